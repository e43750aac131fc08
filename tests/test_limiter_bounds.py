"""The limiter never overflows or wedges: absurd pauses, far-future 403s, clocks at the end of
time, and bad arguments refused before any request."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any

import anyio
import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async import LegrandClient, Quota, QuotaExhausted, RateLimit, RateLimited, RetryPolicy

from .conftest import CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock, wire

NOON = datetime(2026, 11, 21, 12, tzinfo=UTC)
MAX_PAUSE, MAX_EXHAUSTION = RateLimit.MAX_PAUSE, RateLimit.MAX_EXHAUSTION
HUGE = [1e9, 1e308, math.inf, 10**400, 2.0**1023]


def test_the_ceilings() -> None:
    assert (MAX_PAUSE, MAX_EXHAUSTION) == (3600.0, 7 * 86_400.0)


def readable(rate: RateLimit) -> Quota:
    quota = rate.snapshot()
    assert quota.resets_at.utcoffset() == timedelta(0)
    return quota


# --------------------------------------------------------------------------------------------
# Pauses (429)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", HUGE)
def test_a_huge_pause_is_capped_and_the_quota_stays_readable(seconds: float) -> None:
    clock = FakeClock(NOON)
    rate = RateLimit(clock=clock)
    rate.pause(seconds)
    quota = readable(rate)
    assert quota.paused_until == NOON + timedelta(seconds=MAX_PAUSE)

    async def main() -> None:
        with pytest.raises(QuotaExhausted) as info:  # longer than max_wait: at once
            await rate.acquire()
        assert info.value.resets_at == NOON + timedelta(seconds=MAX_PAUSE)
        clock.advance(MAX_PAUSE)
        await rate.acquire()  # not wedged: the pause ends at the ceiling

    anyio.run(main)


@pytest.mark.parametrize("seconds", [math.nan, -1.0, -math.inf, 0, -(10**400)])
def test_a_pause_that_is_not_positive_holds_nothing(seconds: float) -> None:
    clock = FakeClock(NOON)
    rate = RateLimit(clock=clock)
    rate.pause(seconds)
    assert readable(rate).paused_until is None
    anyio.run(rate.acquire)
    assert clock.sleeps == []


def test_a_pause_takes_a_cap() -> None:
    clock = FakeClock(NOON)
    rate = RateLimit(clock=clock)
    rate.pause(1e9, cap=120.0)
    assert readable(rate).paused_until == NOON + timedelta(seconds=120)
    rate.pause(30, cap=math.nan)  # a cap that is not a number is no cap below the ceiling
    assert readable(rate).paused_until == NOON + timedelta(seconds=120)
    rate.pause(math.inf, cap=math.inf)
    assert readable(rate).paused_until == NOON + timedelta(seconds=MAX_PAUSE)


def test_a_pause_needs_a_number() -> None:
    rate = RateLimit(clock=FakeClock(NOON))
    for bad in ("10", None, True):
        with pytest.raises(TypeError):
            rate.pause(bad)  # type: ignore[arg-type]


@given(seconds=st.floats(allow_nan=True, allow_infinity=True) | st.integers())
@settings(max_examples=200, deadline=None)
def test_no_pause_overflows(seconds: float) -> None:
    rate = RateLimit(clock=FakeClock(NOON))
    rate.pause(seconds)
    quota = readable(rate)
    assert quota.paused_until is None or quota.paused_until <= NOON + timedelta(
        seconds=MAX_PAUSE
    )


@pytest.mark.parametrize(
    "retry_after",
    ["1000000000", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT", "inf", "nan", "-5"],
)
@pytest.mark.asyncio
async def test_no_retry_after_wedges_the_limiter(retry_after: str) -> None:
    clock = FakeClock(NOON)
    rate = RateLimit(clock=clock)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(CHRONO).mock(
            return_value=httpx.Response(
                429,
                json={"statusCode": 429, "message": "Rate limit is exceeded."},
                headers={"Retry-After": retry_after},
            )
        )
        async with LegrandClient(
            KEY, access_token=TOKEN, transport=wire(), clock=clock, rate_limit=rate,
            retry=RetryPolicy(max_attempts=1),
        ) as client:
            with pytest.raises(RateLimited):
                await client.smarther.get_status(PLANT, MODULE)
            quota = client.quota
            assert quota is not None
            assert quota.paused_until is None or quota.paused_until <= NOON + timedelta(
                seconds=MAX_PAUSE
            )


# --------------------------------------------------------------------------------------------
# The server's "spent until" (403)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "until",
    [
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=5))),
        datetime.max,  # naive: taken as UTC
    ],
)
def test_a_far_future_403_is_bounded_and_readable(until: datetime) -> None:
    clock = FakeClock(NOON)
    rate = RateLimit(clock=clock)
    rate.exhaust(until)
    bound = NOON + timedelta(seconds=MAX_EXHAUSTION)
    quota = readable(rate)
    assert (quota.remaining_today, quota.resets_at) == (0, bound)

    async def main() -> None:
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert info.value.resets_at == bound
        clock.advance(MAX_EXHAUSTION)
        await rate.acquire()

    anyio.run(main)


@pytest.mark.parametrize(
    "until",
    [datetime.min.replace(tzinfo=timezone(timedelta(hours=5))), NOON - timedelta(hours=1)],
)
def test_a_403_spent_until_a_past_time_holds_nothing(until: datetime) -> None:
    rate = RateLimit(clock=FakeClock(NOON))
    rate.exhaust(until)
    assert readable(rate).remaining_today == 500
    anyio.run(rate.acquire)


# --------------------------------------------------------------------------------------------
# Clocks at the ends of time
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, 0, 1, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize(
    "zone", [UTC, timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))]
)
def test_a_clock_at_the_end_of_time_still_reads(now: datetime, zone: timezone) -> None:
    clock = FakeClock(now)
    rate = RateLimit(per_day=2, clock=clock, day_resets_at=time(0, tzinfo=zone))
    rate.pause(30)
    rate.exhaust(None)
    readable(rate)
    rate.exhaust(now + timedelta(seconds=1))
    readable(rate)
    clock.advance(2)

    async def main() -> None:
        await rate.acquire()
        readable(rate)

    anyio.run(main)


# --------------------------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------------------------


class NumberLike:
    """Converts to float and int (as numpy's scalars do) without being an int or a float."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __float__(self) -> float:
        return float(self.value)

    def __index__(self) -> int:
        return self.value


class NoOffset(tzinfo):
    """A zone that gives no offset: a naive time in disguise."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


class BrokenZone(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        raise RuntimeError("no tz database")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"per_second": math.inf}, ValueError),
        ({"per_second": -math.inf}, ValueError),
        ({"per_second": math.nan}, ValueError),
        ({"per_second": True}, TypeError),
        ({"per_second": "5"}, TypeError),
        ({"per_day": math.inf}, TypeError),
        ({"per_day": math.nan}, TypeError),
        ({"per_day": 500.0}, TypeError),
        ({"per_day": 2.5}, TypeError),
        ({"per_day": "500"}, TypeError),
        ({"per_day": False}, TypeError),
        ({"max_wait": math.inf}, ValueError),
        ({"max_wait": -math.inf}, ValueError),
        ({"max_wait": True}, TypeError),
        ({"max_wait": "60"}, TypeError),
        ({"max_wait": None}, TypeError),
        ({"max_concurrency": math.inf}, TypeError),
        ({"max_concurrency": 2.5}, TypeError),
        ({"max_concurrency": True}, TypeError),
        ({"max_concurrency": -1}, ValueError),
        ({"flush_delay": math.nan}, ValueError),
        ({"flush_delay": -1}, ValueError),
        ({"day_resets_at": "00:00"}, TypeError),
        ({"day_resets_at": datetime(2026, 1, 1, tzinfo=UTC)}, TypeError),
        ({"store": "quota.json"}, TypeError),
        # Beyond float's range, other number types, things that only look like numbers
        ({"per_second": 10**400}, ValueError),
        ({"max_wait": 10**400}, ValueError),
        ({"flush_delay": -(10**400)}, ValueError),
        ({"per_second": -0.0}, ValueError),
        ({"per_second": Decimal("5")}, TypeError),
        ({"max_wait": Fraction(1, 2)}, TypeError),
        ({"flush_delay": NumberLike(1)}, TypeError),
        ({"per_second": complex(1, 0)}, TypeError),
        ({"per_day": Decimal(500)}, TypeError),
        ({"per_day": NumberLike(500)}, TypeError),
        ({"max_concurrency": NumberLike(4)}, TypeError),
        ({"max_concurrency": "4"}, TypeError),
        # Reset times without a usable zone
        ({"day_resets_at": time(0, tzinfo=NoOffset())}, ValueError),
        ({"day_resets_at": time(0, tzinfo=BrokenZone())}, ValueError),
        ({"day_resets_at": None}, TypeError),
        # Clocks
        ({"clock": "system"}, TypeError),
        ({"clock": object()}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match=next(iter(kwargs))):
        RateLimit(**kwargs)


def test_a_negative_zero_wait_is_zero() -> None:
    rate = RateLimit(max_wait=-0.0, flush_delay=-0.0)
    assert (math.copysign(1, rate.max_wait), math.copysign(1, rate.flush_delay)) == (1, 1)


def test_exhaust_needs_a_datetime() -> None:
    rate = RateLimit(clock=FakeClock(NOON))
    for bad in ("2026-11-22", 1e9, NOON.date()):
        with pytest.raises(TypeError, match="resets_at"):
            rate.exhaust(bad)  # type: ignore[arg-type]
    assert rate.snapshot().remaining_today == 500
