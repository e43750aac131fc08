"""Retry with exponential backoff, jitter and ``Retry-After``, as an httpx transport.

A plain loop rather than tenacity: every decision depends on the response (status, Retry-After,
the gateway's "Try again in N seconds." text), a too-long wait must end the loop with the
response rather than an exception, discarded responses must be closed, and the loop sits on the
hot path of every call.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import Final

import attrs
import httpx

from .._clock import Clock
from .headers import parse_retry_after

__all__ = [
    "ATTEMPTS",
    "IDEMPOTENT",
    "RETRY_AFTER",
    "RETRY_STATUSES",
    "RetryPolicy",
    "RetryTransport",
    "Stats",
]

log = logging.getLogger("legrand_async")

#: Request extension the client sets to mark a route idempotent (read timeouts may be retried).
IDEMPOTENT: Final = "legrand_async.idempotent"
#: Request extension the transport sets: how many attempts the request took.
ATTEMPTS: Final = "legrand_async.attempts"
#: Response extension the transport sets: the server's requested wait, when it gave one.
RETRY_AFTER: Final = "legrand_async.retry_after"

RETRY_STATUSES: Final = frozenset({408, 429, 486, 500, 502, 503, 504})
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Errors after which the request may have reached the server: retried on idempotent routes only.
_MAYBE_SENT: Final = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# Errors where nothing reached the server: always safe to retry.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How failed attempts are retried. Data only; every delay may be 0 for no waiting.

    Retried: 408, 429, 486, 500, 502, 503, 504, connect errors and connect/pool timeouts on every
    route; read/write timeouts and dropped connections on idempotent routes only. The n-th retry
    waits ``min(initial_delay * 2**n, max_delay) * (1 - jitter * random())``, or exactly what the
    server asked (``Retry-After``, "Try again in N seconds."). A requested wait longer than
    ``max_retry_after`` is not slept: the error is raised at once with ``.retry_after``.
    """

    max_attempts: int = attrs.field(default=4)
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.25, validator=_non_negative)
    max_retry_after: float = attrs.field(default=120.0, validator=_non_negative)

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {value!r}")

    @jitter.validator
    def _check_jitter(self, _: attrs.Attribute[float], value: float) -> None:
        if value > 1:
            raise ValueError(f"jitter must be between 0 and 1, got {value!r}")


def backoff(policy: RetryPolicy, retry: int, rng: random.Random) -> float:
    """The wait before retry number ``retry`` (0 for the first retry) when the server names none."""
    delay: float = min(policy.initial_delay * 2.0 ** min(retry, 64), policy.max_delay)
    if policy.jitter:
        delay *= 1 - policy.jitter * rng.random()
    return delay


@attrs.define
class Stats:
    """What went over the wire through one client: attempts, answers, retries by cause."""

    attempts: int = 0
    statuses: Counter[int] = attrs.field(factory=Counter)
    errors: Counter[str] = attrs.field(factory=Counter)
    retries: Counter[str] = attrs.field(factory=Counter)

    @property
    def retried(self) -> int:
        """Attempts that were retries."""
        return sum(self.retries.values())


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries what should be retried on the wrapped transport, and nothing else.

    Returns the last response when attempts run out (the client maps it to its error) and
    records the number of attempts in ``request.extensions[ATTEMPTS]``.
    """

    def __init__(
        self,
        wrapped: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        *,
        clock: Clock,
        rng: random.Random,
        stats: Stats | None = None,
    ) -> None:
        self._wrapped = wrapped
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self.stats = stats if stats is not None else Stats()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy, stats = self._policy, self.stats
        idempotent = request.extensions.get(IDEMPOTENT, request.method in _SAFE_METHODS)
        attempt = 0
        while True:
            attempt += 1
            request.extensions[ATTEMPTS] = attempt
            try:
                response = await self._wrapped.handle_async_request(request)
            except _NOT_SENT + _MAYBE_SENT as exc:
                stats.attempts += 1
                stats.errors[type(exc).__name__] += 1
                retryable = idempotent or not isinstance(exc, _MAYBE_SENT)
                if not retryable or attempt >= policy.max_attempts:
                    raise
                delay = backoff(policy, attempt - 1, self._rng)
                reason = type(exc).__name__
            else:
                stats.attempts += 1
                stats.statuses[response.status_code] += 1
                if response.status_code not in RETRY_STATUSES:
                    return response
                await response.aread()
                wait = parse_retry_after(response.headers, response.text, self._clock.now())
                if wait is not None:
                    response.extensions[RETRY_AFTER] = wait
                if attempt >= policy.max_attempts or (
                    wait is not None and wait > policy.max_retry_after
                ):
                    return response
                await response.aclose()
                delay = wait if wait is not None else backoff(policy, attempt - 1, self._rng)
                reason = str(response.status_code)
            stats.retries[reason] += 1
            log.debug(
                "retrying %s %s after %s (attempt %d of %d) in %.3f s",
                request.method,
                request.url.path,
                reason,
                attempt,
                policy.max_attempts,
                delay,
            )
            await self._clock.sleep(delay)

    async def aclose(self) -> None:
        await self._wrapped.aclose()
