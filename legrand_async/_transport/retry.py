"""Retry with backoff, jitter and ``Retry-After``, as an httpx transport, on tenacity.

``RetryPolicy`` is frozen data: attempts, delays, the statuses retried (each with the shortest
wait Legrand's error table asks for), a user predicate, and optionally tenacity ``wait`` and
``stop`` strategies. ``RetryTransport`` turns it into one ``tenacity.AsyncRetrying`` (its
``retry``, ``wait`` and ``stop`` strategies, ``sleep`` on the client's clock), built once.

The success path does not pay tenacity's per-call cost: the first attempt is a plain ``await``
outside tenacity, and only when its outcome needs a retry is a copy of the prepared
``AsyncRetrying`` made (a fresh one per call, as tenacity keeps its state per object). It is
handed that first outcome as its attempt 1 and goes on from there, so every decision of every
attempt is tenacity's. Decisions read the response's :class:`~.classify.Classification` (status,
kind, ``Retry-After``), never the body. Tenacity measures time with ``time.monotonic``; its
state is set from the client's clock instead (the first attempt's start, each outcome), so
``stop_after_delay`` counts the time the client's clock says, fake or not.

Only what the wire gave is retried: a response or an ``httpx`` error. Anything else raised
below (the limiter's ``QuotaExhausted``, a bug) ends the call as it is, without asking the rules
or the user's predicate; so does an exception the predicate raises.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import httpx
import tenacity
from tenacity.asyncio import AsyncRetrying

from .. import _checks
from .._clock import Clock
from .classify import CLASSIFICATION, Classification, Kind

__all__ = [
    "ATTEMPTS",
    "DEFAULT_STATUSES",
    "IDEMPOTENT",
    "Outcome",
    "RetryIf",
    "RetryPolicy",
    "RetryTransport",
    "Stats",
]

log = logging.getLogger("legrand_async")

#: Request extension the client sets to mark a route idempotent (read timeouts may be retried).
IDEMPOTENT: Final = "legrand_async.idempotent"
#: Request extension the transport sets: how many attempts the request took.
ATTEMPTS: Final = "legrand_async.attempts"

#: The statuses retried by default, each with the shortest wait before its retry (seconds).
#: From Legrand's error table: 408 "wait a few seconds and try again", 486 "wait about 10
#: seconds and try to send your request again"; 429 and 5xx wait the backoff or what the
#: server asks.
DEFAULT_STATUSES: Final[Mapping[int, float]] = MappingProxyType(
    {408: 3.0, 429: 0.0, 486: 10.0, 500: 0.0, 502: 0.0, 503: 0.0, 504: 0.0}
)
_MAX_SECONDS: Final = 1e9  # any wait longer is a mistake (and would overflow a datetime soon)
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
# A 2xx whose body could not be read as JSON: retried like a dropped connection.
_BROKEN: Final = frozenset({Kind.MALFORMED, Kind.UNDECODABLE})

Outcome = httpx.Response | httpx.HTTPError
#: ``retry_if(request, outcome)``: True retries, False does not, None leaves it to the rules.
RetryIf = Callable[[httpx.Request, Outcome], bool | None]


def _seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    _checks.real(attribute.name, value, minimum=0, maximum=_MAX_SECONDS, below=True, unit=" s")


def _statuses(value: Mapping[int, float]) -> Mapping[int, float]:
    if not isinstance(value, Mapping):
        raise TypeError("statuses must map HTTP statuses to minimum waits in seconds")
    table = {}
    for status, wait in value.items():
        _checks.count("statuses: an HTTP status", status, minimum=100, maximum=599)
        wait = _checks.real(
            f"statuses: the wait for {status}", wait, minimum=0, maximum=_MAX_SECONDS, below=True
        )
        table[status] = float(wait)
    return MappingProxyType(table)


def _callable_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{attribute.name} must be callable or None, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How failed attempts are retried. Data only; every delay may be 0 for no waiting.

    Retried: the ``statuses`` (default :data:`DEFAULT_STATUSES`: 408, 429, 486, 500, 502, 503,
    504), connect errors and connect/pool timeouts on every route; read/write timeouts (a whole
    attempt over the timeout included), dropped connections and 2xx answers whose body is not
    JSON on idempotent routes only. Never retried: the daily quota answer, a body over the size
    cap, any other error.

    The n-th retry waits ``min(initial_delay * 2**n, max_delay) * (1 - jitter * random())``
    (or ``wait``'s value, a tenacity wait strategy, instead of the exponential part), at least the
    status's minimum wait (486: 10 s, 408: 3 s), or what the server asked (``Retry-After``,
    "Try again in N seconds.") if longer. A wait longer than ``max_retry_after`` is not slept:
    the error is raised at once (``.retry_after`` says the server's wait). ``stop``, a tenacity
    stop strategy, may end retries sooner than ``max_attempts`` (its delays count on the
    client's clock). ``retry_if(request, outcome)`` (a response or an httpx exception) returning
    True or False overrides the rules for that attempt; None leaves it to them; an exception it
    raises ends the call as it is. The limiter's ``QuotaExhausted`` is never retried.
    """

    max_attempts: int = attrs.field(default=4)
    initial_delay: float = attrs.field(default=0.5, validator=_seconds)
    max_delay: float = attrs.field(default=8.0, validator=_seconds)
    jitter: float = attrs.field(default=0.25)
    max_retry_after: float = attrs.field(default=120.0, validator=_seconds)
    statuses: Mapping[int, float] = attrs.field(
        default=DEFAULT_STATUSES, converter=_statuses, hash=False
    )
    retry_if: RetryIf | None = attrs.field(default=None, validator=_callable_or_none)
    wait: Any = attrs.field(default=None, validator=_callable_or_none)
    stop: Any = attrs.field(default=None, validator=_callable_or_none)

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        _checks.count("max_attempts", value)

    @jitter.validator
    def _check_jitter(self, _: attrs.Attribute[float], value: float) -> None:
        _checks.real("jitter", value, minimum=0, maximum=1)


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


def _reason(outcome: Outcome) -> str:
    """The cause of a retry, as counted in ``Stats.retries`` and logged."""
    if isinstance(outcome, httpx.HTTPError):
        return type(outcome).__name__
    record: Classification = outcome.extensions[CLASSIFICATION]
    return record.kind.value if record.kind in _BROKEN else str(record.status)


def _outcome(state: tenacity.RetryCallState) -> Outcome:
    future = state.outcome
    assert future is not None
    error = future.exception()
    if error is None:
        result: httpx.Response = future.result()
        return result
    assert isinstance(error, httpx.HTTPError)  # anything else is not retried
    return error


def _last_outcome(state: tenacity.RetryCallState) -> httpx.Response:
    """When retries stop: the last response (the client maps it), or its exception raised."""
    assert state.outcome is not None
    result: httpx.Response = state.outcome.result()
    return result


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries what should be retried on the wrapped transport, and nothing else.

    Returns the last response when retries stop (the client maps it to its error) and records
    the number of attempts in ``request.extensions[ATTEMPTS]``.
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
        # No predicate and no 2xx retried by status: an OK 2xx needs no more thought.
        self._plain_ok = policy.retry_if is None and not any(s < 300 for s in policy.statuses)
        self._attempts = tenacity.stop_after_attempt(policy.max_attempts)
        self._retrying = AsyncRetrying(
            sleep=clock.sleep,
            stop=self._stop,
            wait=self._wait,
            retry=self._retry,
            before_sleep=self._before_sleep,
            retry_error_callback=_last_outcome,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions[ATTEMPTS] = 1
        started = self._clock.monotonic()
        first: Outcome
        try:
            first = await self._send(request)
        except httpx.HTTPError as exc:
            if not self._wants_retry(request, exc):
                raise
            first = exc
        else:
            if not self._wants_retry(request, first):
                return first  # the success path: tenacity is not involved
        retrying = self._retrying.copy()
        result: httpx.Response = await retrying(self._again, request, [first], started)
        return result

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """One attempt, counted when it reached the wire (a call the limiter refused did not)."""
        stats = self.stats
        try:
            response = await self._wrapped.handle_async_request(request)
        except httpx.HTTPError as exc:
            stats.attempts += 1
            stats.errors[type(exc).__name__] += 1
            raise
        stats.attempts += 1
        stats.statuses[response.status_code] += 1
        return response

    async def _again(
        self, request: httpx.Request, first: list[Outcome], started: float
    ) -> httpx.Response:
        """Tenacity's attempt: the first outcome (already had, begun at ``started`` on the
        client's clock), then real attempts."""
        if first:
            outcome = first.pop()
            if isinstance(outcome, httpx.HTTPError):
                raise outcome
            return outcome
        request.extensions[ATTEMPTS] += 1
        return await self._send(request)

    def _wants_retry(self, request: httpx.Request, outcome: Outcome) -> bool:
        if self._plain_ok and isinstance(outcome, httpx.Response):
            record: Classification = outcome.extensions[CLASSIFICATION]
            if record.kind is Kind.OK:
                return False  # the success path, in a few steps
        if self._policy.retry_if is not None:
            verdict = self._policy.retry_if(request, outcome)
            if verdict is not None:
                return bool(verdict)
        idempotent = request.extensions.get(IDEMPOTENT, request.method in _SAFE_METHODS)
        if isinstance(outcome, httpx.HTTPError):
            sent = isinstance(outcome, _MAYBE_SENT)
            return isinstance(outcome, _NOT_SENT) or (idempotent and sent)
        record = outcome.extensions[CLASSIFICATION]
        if record.kind is Kind.QUOTA or record.kind is Kind.TOO_LARGE:
            return False
        if record.status in self._policy.statuses:
            return True
        return idempotent and 200 <= record.status < 300 and record.kind in _BROKEN

    # --- tenacity strategies ----------------------------------------------------------------

    def _retry(self, state: tenacity.RetryCallState) -> bool:
        state.start_time = state.args[2]  # tenacity's times on the client's clock
        state.outcome_timestamp = self._clock.monotonic()
        if state.attempt_number == 1:
            return True  # the first outcome: decided before tenacity was built
        assert state.outcome is not None
        error = state.outcome.exception()
        if error is not None and not isinstance(error, httpx.HTTPError):
            return False  # the limiter refused, a bug, a cancellation: never retried
        return self._wants_retry(state.args[0], _outcome(state))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        policy = self._policy
        outcome = _outcome(state)
        floor = 0.0
        if isinstance(outcome, httpx.Response):
            record: Classification = outcome.extensions[CLASSIFICATION]
            floor = policy.statuses.get(record.status, 0.0)
            if record.retry_after is not None:
                return max(record.retry_after, floor)  # the server's word: exact, no draw
        if policy.wait is not None:
            delay = float(policy.wait(state))
            if not delay >= 0:  # NaN or negative from a strategy: no wait
                delay = 0.0
        else:
            exponent = min(state.attempt_number - 1, 64)
            delay = min(policy.initial_delay * 2.0**exponent, policy.max_delay)
        if policy.jitter:
            delay *= 1 - policy.jitter * self._rng.random()
        return max(delay, floor)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        """Attempts spent, a wait longer than ``max_retry_after``, or the policy's ``stop``."""
        policy = self._policy
        return (
            self._attempts(state)
            or state.upcoming_sleep > policy.max_retry_after
            or (policy.stop is not None and bool(policy.stop(state)))
        )

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        """Count and log the retry (the response is read and closed already, below)."""
        request: httpx.Request = state.args[0]
        reason = _reason(_outcome(state))
        self.stats.retries[reason] += 1
        log.debug(
            "retrying %s %s after %s (attempt %d of %d) in %.3f s",
            request.method,
            request.url.path,
            reason,
            state.attempt_number,
            self._policy.max_attempts,
            state.upcoming_sleep,
        )

    async def aclose(self) -> None:
        await self._wrapped.aclose()

