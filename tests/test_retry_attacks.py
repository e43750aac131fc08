"""The retry loop and the classification attacked: odd waits, odd predicates, odd strategies,
quota answers in every place and status, and callers cancelled at every await.

Everything runs on a fake clock that records its sleeps (``legrand_async.testing.FakeClock``
checkpoints in ``sleep`` like a real sleep, so a cancellation can land there).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import tenacity

from legrand_async import (
    DeviceBusy,
    Forbidden,
    LegrandClient,
    QuotaExhausted,
    RateLimit,
    RateLimited,
    RequestTimeout,
    RetryPolicy,
    ServerError,
    ServerQuotaExhausted,
)
from legrand_async.testing import FakeClock

from .conftest import KEY, MODULE, PLANT, STATUS_BYTES, TOKEN
from .limiter_support import RecordingStore

QUOTA = "Out of call volume quota. Quota will be replenished in 02:00:00."


class Body(httpx.AsyncByteStream):
    """A body in pieces, a checkpoint before each (so a cancellation can land mid-body)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), 16):
            await anyio.lowlevel.checkpoint()
            yield self.data[i : i + 16]

    async def aclose(self) -> None:
        self.closed = True


Answer = tuple[int, bytes, Any]  # headers: a dict or a list of pairs


class Wire(httpx.AsyncBaseTransport):
    """Answers request n with ``answers[n]`` (the last one after that); keeps every stream."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.bodies: list[Body] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, data, headers = self.answers[min(len(self.requests), len(self.answers) - 1)]
        self.requests.append(request)  # reached the wire: the limiter must count it
        await anyio.lowlevel.checkpoint()  # the headers take a moment
        body = Body(data)
        self.bodies.append(body)
        return httpx.Response(status, headers=headers, stream=body)

    @property
    def open_streams(self) -> int:
        return sum(not body.closed for body in self.bodies)


def error(status: int, message: str = "x", **headers: str) -> Answer:
    return status, f'{{"statusCode": {status}, "message": "{message}"}}'.encode(), headers


OK: Answer = (200, STATUS_BYTES, {})


def client_of(wire: Wire, clock: FakeClock, **kwargs: Any) -> LegrandClient:
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("retry", RetryPolicy())
    return LegrandClient(
        KEY, access_token=TOKEN, transport=wire, clock=clock, rng=random.Random(7), **kwargs
    )


def run(main: Callable[[], Awaitable[Any]], backend: str = "asyncio") -> Any:
    return anyio.run(main, backend=backend)


# --- Retry-After values no one should send -------------------------------------------------------

ODD_WAITS = {
    "1e9": {"Retry-After": "1000000000"},
    "1e308": {"Retry-After": "1e308"},
    "1e400": {"Retry-After": "1e400"},
    "inf": {"Retry-After": "inf"},
    "NaN": {"Retry-After": "NaN"},
    "-1": {"Retry-After": "-1"},
    "year 9999": {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
    "year 1": {"Retry-After": "Mon, 01 Jan 0001 00:00:00 GMT"},
    "garbage": {"Retry-After": "soon, maybe \x7f"},
    "empty": {"Retry-After": ""},
    "retry-after-ms 1e308": {"retry-after-ms": "1e308"},
    "retry-after-ms 1e400": {"retry-after-ms": "1e400"},
    "retry-after-ms -5": {"retry-after-ms": "-5", "Retry-After": "2"},
    "x-ms-retry-after-ms huge": {"x-ms-retry-after-ms": "9" * 400},
}


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("headers", ODD_WAITS.values(), ids=ODD_WAITS.keys())
def test_no_retry_after_blocks_past_the_cap_or_overflows(
    headers: dict[str, str], status: int
) -> None:
    cap = 30.0

    async def main() -> None:
        clock = FakeClock()
        wire = Wire((status, b'{"message": "wait"}', headers), OK)
        limiter = RateLimit(per_day=None, max_wait=60)
        policy = RetryPolicy(jitter=0, max_retry_after=cap)
        async with client_of(wire, clock, rate_limit=limiter, retry=policy) as client:
            outcome: Any = None
            try:
                await client.smarther.get_status(PLANT, MODULE)
            except (RateLimited, ServerError) as exc:
                outcome = exc
            if outcome is not None:
                assert outcome.retry_after is None or math.isfinite(outcome.retry_after)
                assert clock.sleeps == []  # a wait over the cap is raised, never slept
            quota = client.quota  # always readable
            assert quota is not None
            if quota.paused_until is not None:
                assert quota.paused_until <= clock.now() + timedelta(seconds=cap)
            await client.smarther.get_status(PLANT, MODULE)  # the next call gets through
        assert sum(clock.sleeps) <= cap
        assert wire.open_streams == 0

    run(main)


def test_several_retry_after_headers_are_not_one_wait() -> None:
    async def main() -> list[float]:
        clock = FakeClock()
        wire = Wire((503, b"{}", [("Retry-After", "5"), ("Retry-After", "7")]), OK)
        async with client_of(wire, clock, retry=RetryPolicy(jitter=0)) as client:
            await client.smarther.get_status(PLANT, MODULE)
        return clock.sleeps

    assert run(main) == [0.5]  # "5, 7" is no number and no date: the backoff decides


# --- Legrand's per-status waits ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "retry_after", [None, "0", "1", "9.99", "Mon, 01 Jan 2001 00:00:00 GMT"]
)
def test_a_486_is_never_sent_again_sooner_than_10_seconds(
    seed: int, retry_after: str | None
) -> None:
    async def main() -> list[float]:
        clock = FakeClock()
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        wire = Wire(error(486, "busy", **headers))
        client = LegrandClient(
            KEY, access_token=TOKEN, transport=wire, clock=clock, rng=random.Random(seed),
            rate_limit=None,
        )
        async with client:
            with pytest.raises(DeviceBusy) as info:
                await client.smarther.set_status(PLANT, MODULE, _off())
        assert info.value.attempts == 4
        return clock.sleeps

    sleeps = run(main)
    assert len(sleeps) == 3
    assert all(sleep >= 10.0 for sleep in sleeps)


def test_a_408_waits_a_few_seconds_whatever_the_backoff() -> None:
    async def main() -> list[float]:
        clock = FakeClock()
        wire = Wire(error(408))
        async with client_of(wire, clock, retry=RetryPolicy(initial_delay=0, max_delay=0)) as c:
            with pytest.raises(RequestTimeout):
                await c.smarther.get_status(PLANT, MODULE)
        return clock.sleeps

    assert run(main) == [3.0, 3.0, 3.0]


# --- the user's predicate and tenacity strategies ---------------------------------------------


class PredicateBug(Exception):
    pass


@pytest.mark.parametrize("when", [1, 2])
def test_a_predicate_that_raises_propagates_and_leaves_nothing_open(when: int) -> None:
    calls = []

    def retry_if(request: httpx.Request, outcome: object) -> bool | None:
        calls.append(outcome)
        if len(calls) == when:
            raise PredicateBug("the predicate's own bug")
        return None

    async def main() -> None:
        clock = FakeClock()
        wire = Wire(error(503), error(503), OK)
        limiter = RateLimit(per_day=500)
        policy = RetryPolicy(jitter=0, retry_if=retry_if)
        async with client_of(wire, clock, retry=policy, rate_limit=limiter) as client:
            with pytest.raises(PredicateBug):
                await client.smarther.get_status(PLANT, MODULE)
            assert wire.open_streams == 0
            quota = client.quota
            assert quota is not None
            assert quota.used_today == len(wire.requests) == when
            assert client.stats.attempts == when

    run(main)


def test_the_predicate_sees_wire_outcomes_only_not_the_limiters_refusal() -> None:
    seen: list[object] = []

    def retry_if(request: httpx.Request, outcome: object) -> bool | None:
        seen.append(outcome)
        return True  # "retry everything"

    async def main() -> None:
        clock = FakeClock()
        wire = Wire(error(503))
        policy = RetryPolicy(jitter=0, retry_if=retry_if, max_attempts=10)
        async with client_of(wire, clock, retry=policy, rate_limit=RateLimit(per_day=2)) as c:
            with pytest.raises(QuotaExhausted):
                await c.smarther.get_status(PLANT, MODULE)
        assert len(wire.requests) == 2
        assert all(isinstance(outcome, httpx.Response) for outcome in seen)
        assert clock.sleeps == [0.5, 1.0]  # no backoff slept on a spent quota

    run(main)


def test_tenacity_stop_after_delay_counts_on_the_clients_clock() -> None:
    async def main() -> tuple[int, list[float]]:
        clock = FakeClock()
        wire = Wire(error(503))
        policy = RetryPolicy(
            jitter=0, initial_delay=10, max_delay=10, max_attempts=100,
            stop=tenacity.stop_after_delay(35),
        )
        async with client_of(wire, clock, retry=policy) as client:
            with pytest.raises(ServerError) as info:
                await client.smarther.get_status(PLANT, MODULE)
        return info.value.attempts, clock.sleeps

    attempts, sleeps = run(main)
    assert sleeps == [10.0, 10.0, 10.0, 10.0]  # the fifth attempt starts 40 s after the first
    assert attempts == 5


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        (tenacity.wait_chain(tenacity.wait_fixed(1), tenacity.wait_fixed(4)), [1.0, 4.0, 4.0]),
        (tenacity.wait_exponential(multiplier=1, max=3), [1.0, 2.0, 3.0]),
        (tenacity.wait_fixed(1e12), []),  # longer than max_retry_after: raised at once
        (lambda state: math.inf, []),
        (lambda state: -math.inf, [0.0, 0.0, 0.0]),
    ],
    ids=["chain", "exponential", "1e12", "inf", "-inf"],
)
def test_tenacity_wait_strategies(wait: Any, expected: list[float]) -> None:
    async def main() -> list[float]:
        clock = FakeClock()
        wire = Wire(error(503))
        async with client_of(wire, clock, retry=RetryPolicy(jitter=0, wait=wait)) as client:
            with pytest.raises(ServerError):
                await client.smarther.get_status(PLANT, MODULE)
        return clock.sleeps

    assert run(main) == expected


def test_a_stop_strategy_that_says_never_still_stops_at_max_attempts() -> None:
    async def main() -> int:
        wire = Wire(error(500))
        policy = RetryPolicy(jitter=0, initial_delay=0, stop=tenacity.stop_never)
        async with client_of(wire, FakeClock(), retry=policy) as client:
            with pytest.raises(ServerError):
                await client.smarther.get_status(PLANT, MODULE)
        return len(wire.requests)

    assert run(main) == 4


# --- the quota answer, wherever and whenever ------------------------------------------------------

QUOTA_ANSWERS = {
    "message": (403, f'{{"statusCode": 403, "message": "{QUOTA}"}}'),
    "userMessage": (403, f'{{"errors": [{{"userMessage": "{QUOTA}"}}]}}'),
    "internalMessage": (
        403,
        f'{{"errors": [{{"userMessage": "no", "internalMessage": "{QUOTA}"}}]}}',
    ),
    "plain text": (403, QUOTA),
    "upper case": (403, QUOTA.upper()),
    "mixed case": (403, "oUt Of CaLl VoLuMe QuOtA. Quota will be replenished in 02:00:00."),
    "in a 429": (429, f'{{"message": "{QUOTA}"}}'),
    "in a 401": (401, f'{{"statusCode": 401, "message": "{QUOTA}"}}'),
    "in a 500": (500, f'{{"message": "{QUOTA}"}}'),
}


@pytest.mark.parametrize(("status", "body"), QUOTA_ANSWERS.values(), ids=QUOTA_ANSWERS.keys())
def test_the_quota_answer_is_one_class_first_and_later(status: int, body: str) -> None:
    async def main() -> None:
        clock = FakeClock()
        wire = Wire((status, body.encode(), {"Retry-After": "1"}))
        async with client_of(wire, clock, rate_limit=RateLimit(per_day=500)) as client:
            errors = []
            for _ in range(3):
                with pytest.raises(QuotaExhausted) as info:
                    await client.smarther.get_status(PLANT, MODULE)
                errors.append(info.value)
                clock.advance(60)
            quota = client.quota
            assert quota is not None
            assert quota.remaining_today == 0
        assert len(wire.requests) == 1  # never retried, then failed fast without sending
        assert clock.sleeps == []
        for number, exc in enumerate(errors):
            assert type(exc) is ServerQuotaExhausted
            assert isinstance(exc, Forbidden)
            assert exc.status_code == status
            assert exc.body is not None
            assert exc.attempts == (1 if number == 0 else 0)
            assert exc.resets_at == errors[0].resets_at

    run(main)


def test_a_quota_answer_without_a_limiter_is_still_a_server_quota_error() -> None:
    async def main() -> None:
        wire = Wire((403, QUOTA.encode(), {}))
        async with client_of(wire, FakeClock(), rate_limit=None) as client:
            for _ in range(2):
                with pytest.raises(ServerQuotaExhausted) as info:
                    await client.smarther.get_status(PLANT, MODULE)
                assert info.value.attempts == 1
        assert len(wire.requests) == 2  # nothing remembers it: each call asks

    run(main)


# --- cancelled at every await ---------------------------------------------------------------------


def scenario() -> tuple[Answer, ...]:
    """An error body read in pieces, a 429 that pauses the limiter, a 503, then the answer."""
    return (
        error(500, "down" * 8),
        error(429, "slow", **{"Retry-After": "2"}),
        error(503, "busy" * 8),
        OK,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_call_cancelled_at_any_await_closes_every_response_and_counts_what_was_sent(
    backend: str,
) -> None:
    """For every k until the call completes: cancel it after the k-th checkpoint (in the wire,
    mid-body, in the limiter's flush after the 429, in a backoff sleep, in the 429 pause). Every
    response the wire made is closed, the quota counts exactly the requests that reached the
    wire, the concurrency slot is given back, and the next call goes through."""

    async def main() -> None:
        for k in range(2000):
            clock = FakeClock()
            wire = Wire(*scenario())
            store = RecordingStore()
            limiter = RateLimit(per_day=500, max_concurrency=1, store=store, flush_delay=0)
            client = client_of(wire, clock, rate_limit=limiter, retry=RetryPolicy(jitter=0))
            done: list[object] = []

            async def call(client: LegrandClient = client, done: list[object] = done) -> None:
                done.append(await client.smarther.get_status(PLANT, MODULE))

            async with anyio.create_task_group() as group:
                group.start_soon(call)
                for _ in range(k):
                    await anyio.lowlevel.checkpoint()
                group.cancel_scope.cancel()
            assert wire.open_streams == 0, k
            quota = client.quota
            assert quota is not None
            assert quota.used_today == len(wire.requests), k
            wire.answers = [OK]
            with anyio.fail_after(5):  # the slot is free: this does not wait for it
                await client.smarther.get_status(PLANT, MODULE)
            await client.aclose()
            assert store.stored is not None
            assert store.stored[1] == len(wire.requests), k
            if done:
                assert len(wire.requests) == 5  # four for the call, one after
                assert k > 40  # it was cut at many places first
                return
        raise AssertionError("the call never completed")

    run(main, backend)


def _off() -> Any:
    from legrand_async import SetStatus

    return SetStatus.off()


def test_a_call_cancelled_natively_at_any_step_closes_every_response() -> None:
    """The same, cancelled by asyncio's own ``task.cancel()`` (as ``asyncio.timeout`` and
    ``asyncio.wait_for`` do) after k event-loop steps, for every k until the call completes."""
    import asyncio

    async def main() -> None:
        for k in range(2000):
            wire = Wire(*scenario())
            limiter = RateLimit(per_day=500, max_concurrency=1)
            client = client_of(wire, FakeClock(), rate_limit=limiter, retry=RetryPolicy(jitter=0))
            task = asyncio.ensure_future(client.smarther.get_status(PLANT, MODULE))
            for _ in range(k):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                done = False
            else:
                done = True
            assert wire.open_streams == 0, k
            quota = client.quota
            assert quota is not None
            assert quota.used_today == len(wire.requests), k
            wire.answers = [OK]
            async with asyncio.timeout(5):
                await client.smarther.get_status(PLANT, MODULE)
            await client.aclose()
            if done:
                assert k > 40
                return
        raise AssertionError("the call never completed")

    asyncio.run(main())
