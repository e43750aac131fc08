"""LegrandClient: the client core that executes routes through the transport stack."""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, Self, Unpack

import httpx

from ._auth import StaticToken
from ._clock import Clock, SystemClock
from ._closing import AsyncClosing
from ._converters import unstructure
from ._endpoints import Families
from ._poller import Poller, PollKeywords, PollOptions, T, ThermostatPoller, V, poll_options
from ._responses import error_from_exception, error_from_response, result_from_response
from ._routing import Route
from ._secrets import refuse_unsafe_characters
from ._transport.bounded import DEFAULT_MAX_BODY_SIZE
from ._transport.classify import EXPECTS_JSON
from ._transport.client import ClientTransport
from ._transport.ratelimit import Limits, Quota, RateLimit, RateLimits
from ._transport.retry import ATTEMPTS, IDEMPOTENT, RetryPolicy
from ._transport.stack import build_stack, check_timeout
from ._urls import checked_url
from ._version import __version__
from ._watch import ThermostatWatch
from .webhooks import WebhookReceiver

__all__ = ["DEFAULT_BASE_URL", "LegrandClient"]

DEFAULT_BASE_URL: Final = "https://api.developer.legrand.com"
_JSON: Final = "application/json"


@functools.lru_cache(maxsize=1024)
def _url(base_url: str, route: Route, args: tuple[object, ...]) -> httpx.URL:
    """The checked request URL, memoised: parsing a URL costs more than the rest of a call."""
    return httpx.URL(base_url + route.render_path(args))


def _limits(value: object) -> Limits | None:
    if isinstance(value, _Default):
        return RateLimit.starter_kit()  # a limiter of this client's own
    if value is None or isinstance(value, RateLimit):
        return value
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if not all(isinstance(limit, RateLimit) for limit in value):
            raise TypeError("rate_limit must be a RateLimit, a sequence of them, or None")
        return value[0] if len(value) == 1 else RateLimits(value)
    raise TypeError("rate_limit must be a RateLimit, a sequence of them, or None")


class _Default:
    """The type of DEFAULT: "no argument given"."""


DEFAULT: Final = _Default()


class LegrandClient(AsyncClosing, Families):
    """An asyncio client for the Legrand / BTicino developer cloud.

    ``subscription_key`` is the portal's Primary Key (sent as ``Ocp-Apim-Subscription-Key``).
    Authenticate with ``access_token`` (a bearer token you manage) or ``auth`` (any
    ``httpx.Auth``), not both; with neither, requests carry no ``Authorization`` header (for a
    proxy that adds it). The wire is ``transport`` (an httpx transport, closed with the client)
    or ``http_client`` (your ``httpx.AsyncClient``, used as the innermost transport and left
    open); the library's auth, retry and limits always apply on top. ``rate_limit`` defaults to
    a limiter of the client's own (``RateLimit.starter_kit()``: 500 calls a day); pass a shared
    ``RateLimit`` to share a budget, a sequence of them for a call to go through each (see
    ``RateLimits``: the app's pace, then the user's day), or None for no local limit.
    ``timeout`` bounds each attempt as a whole (connect, headers and body; an
    ``httpx.Timeout`` by its longest phase), and
    ``max_body_size`` the decoded body (bytes; :class:`ResponseTooLarge` past it). ``clock``
    and ``rng`` exist for tests. The API families are attributes (``client.smarther``,
    ``client.home_control``...), one per entry of the route table's ``FAMILIES``.
    """

    def __init__(
        self,
        subscription_key: str,
        *,
        access_token: str | None = None,
        auth: httpx.Auth | None = None,
        base_url: str = DEFAULT_BASE_URL,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so a shared default is safe
        rate_limit: RateLimit | Sequence[RateLimit] | _Default | None = DEFAULT,
        timeout: float | httpx.Timeout | None = 20.0,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(subscription_key, str):
            kind = type(subscription_key).__name__
            raise TypeError(f"subscription_key must be a str, got {kind}")
        if not subscription_key.strip():
            raise ValueError("subscription_key must be a non-empty string")
        refuse_unsafe_characters("subscription_key", subscription_key)
        if access_token is not None and auth is not None:
            raise ValueError("pass access_token or auth, not both")
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        if not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self._attempts = retry.max_attempts  # what one read of a poller may cost
        checked_url("base_url", base_url)
        self._base_url = base_url.rstrip("/")
        check_timeout(timeout)
        self._clock: Clock = clock if clock is not None else SystemClock()
        wire: httpx.AsyncBaseTransport
        if http_client is not None:
            wire = ClientTransport(http_client)
        else:
            wire = transport if transport is not None else httpx.AsyncHTTPTransport()
        #: The limiter every attempt goes through (None: no local limits); a RateLimits for a
        #: sequence of limiters.
        self.rate_limit: Limits | None = _limits(rate_limit)
        jitter = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not crypto
        stack = build_stack(
            wire,
            retry=retry,
            clock=self._clock,
            rng=jitter,
            rate_limit=self.rate_limit,
            max_body_size=max_body_size,
        )
        #: What went over the wire: attempts, statuses, errors, retries by cause.
        self.stats = stack.stats
        self._http = httpx.AsyncClient(
            transport=stack,
            auth=StaticToken(access_token) if access_token is not None else auth,
            timeout=timeout,
            headers={
                "Ocp-Apim-Subscription-Key": subscription_key.strip(),
                "Accept": _JSON,
                "User-Agent": f"legrand-async/{__version__} httpx/{httpx.__version__}",
            },
        )
        self._bind_families(self._call)

    async def _call(self, route: Route, args: tuple[object, ...], body: object) -> Any:
        """Send ``route`` with path ``args`` and ``body``; the structured result or an error."""
        url = _url(self._base_url, route, args)
        content = None
        headers = None
        if route.body is not None:
            if not isinstance(body, route.body):
                raise TypeError(f"{route.name} takes a {route.body.__name__}")
            content = json.dumps(unstructure(body), separators=(",", ":")).encode()
            headers = {"Content-Type": _JSON}
        request = self._http.build_request(
            route.method,
            url,
            content=content,
            headers=headers,
            extensions={IDEMPOTENT: route.idempotent, EXPECTS_JSON: route.extract is not None},
        )
        try:
            response = await self._http.send(request)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            error = error_from_exception(exc, request)
            raise error from error.__cause__
        if 200 <= response.status_code < 300:
            return result_from_response(route, response)
        raise error_from_response(response, attempts=response.request.extensions.get(ATTEMPTS, 1))

    @property
    def quota(self) -> Quota | None:
        """The quota now: used and remaining today, when it resets, any 429 pause (None if off)."""
        return self.rate_limit.snapshot() if self.rate_limit is not None else None

    def poll_thermostats(
        self,
        targets: Iterable[tuple[str, str]] | None = None,
        *,
        options: PollOptions | None = None,
        **keywords: Unpack[PollKeywords],
    ) -> ThermostatPoller:
        """Poll Smarther thermostats; an async iterator of :class:`StatusChange`.

        ``targets`` are ``(plant_id, module_id)`` pairs; without them every chronothermostat is
        found plant by plant (and found again every ``discovery_interval`` seconds; a failed
        plant list or topology is tried again on its own, see ``poller.discovery``). The first
        cycle yields every thermostat, later ones only those whose state changed (function, mode,
        setpoint, programs, activation time, load state, temperature, humidity, online).
        The pace is ``options``, a :class:`PollOptions` (``interval``, ``reserve``,
        ``concurrency``, ``discovery_interval``), whose fields may also be given as keywords:
        by default reads go as the daily quota allows, the calls left today but ``reserve`` of
        the day's quota spread evenly over the time to the reset, never faster than the
        per-second limit; an explicit ``interval`` is a floor the budget stretches, so the
        reserve always holds. Errors are counted in ``.errors`` and polling goes on; see
        :mod:`legrand_async._poller`. ::

            async with client.poll_thermostats() as poller:
                async for change in poller:
                    print(change.module_id, change.current.mode, change.current.temperature)
        """
        return ThermostatPoller(
            self.smarther,
            targets,
            clock=self._clock,
            rate_limit=self.rate_limit,
            options=poll_options(options, keywords),
            attempts=self._attempts,
        )

    def watch_thermostats(
        self,
        receiver: WebhookReceiver,
        url: str,
        *,
        max_silence: float | None = None,
        remove_subscriptions: bool = False,
        options: PollOptions | None = None,
        **keywords: Unpack[PollKeywords],
    ) -> ThermostatWatch:
        """Follow every thermostat by C2C push, with polls as the safety net: an async context
        manager; inside it, an async iterator of :class:`StatusChange` (``source`` ``"push"``
        or ``"poll"``), one stream in order per thermostat.

        ``receiver`` is your :class:`WebhookReceiver`, served at ``url`` (https, ending in its
        secret). Every plant is subscribed with ``ensure_subscription`` (at start, after each
        discovery, and again when found unsubscribed; left in place on exit unless
        ``remove_subscriptions``). Thermostats not heard from within ``max_silence`` seconds
        (default derived from the budget) and those of plants whose push is presumed broken
        are polled at the budget's pace (``options`` and keywords as for
        :meth:`poll_thermostats`); the reserve of the daily quota is never spent. See
        ``docs/watching.md``. ::

            async with client.watch_thermostats(receiver, "https://example.org/hooks/s3cret") as w:
                async for change in w:
                    print(change.source, change.module_id, change.current.mode)
        """
        return ThermostatWatch(
            self.smarther,
            receiver,
            url,
            clock=self._clock,
            rate_limit=self.rate_limit,
            options=poll_options(options, keywords),
            attempts=self._attempts,
            max_silence=max_silence,
            remove_subscriptions=remove_subscriptions,
        )

    def poll(
        self,
        fetch: Callable[[T], Awaitable[V]],
        targets: Iterable[T],
        *,
        key: Callable[[V], object] | None = None,
        options: PollOptions | None = None,
        **keywords: Unpack[PollKeywords],
    ) -> Poller[T, V]:
        """Poll ``fetch(target)`` for every target; an async iterator of :class:`Change`.

        The same machinery (and :class:`PollOptions`) as :meth:`poll_thermostats` for any
        status coroutine: values compare with ``key(value)`` if given, else ``==``. ::

            plants = [plant.id for plant in await client.home_control.list_plants()]
            async for change in client.poll(client.home_control.get_plant_status, plants):
                ...
        """
        return Poller(
            fetch,
            targets,
            clock=self._clock,
            rate_limit=self.rate_limit,
            key=key,
            options=poll_options(options, keywords),
            attempts=self._attempts,
        )

    async def aclose(self) -> None:
        """Write the quota count (see ``RateLimit.flush``) and close connections (and a
        ``transport`` you passed; never your ``http_client``)."""
        try:
            if self.rate_limit is not None:
                await self.rate_limit.flush()
        finally:  # a cancellation the flush passes on still closes the connections
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        if self.rate_limit is not None:
            await self.rate_limit.load()  # so that client.quota shows a stored count at once
        return self

    def __repr__(self) -> str:
        return f"<LegrandClient base_url={self._base_url!r}>"
