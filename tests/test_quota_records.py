"""A QuotaStore of the user's own giving back nonsense (wrong types, naive datetimes, negative,
fractional or absurd counts, windows from the future) or failing in odd ways: no call fails, no
nonsense is taken up as a count, and the failure is logged once per streak."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from legrand_async import RateLimit
from legrand_async._transport.quota_sync import FAILING_DELAY, MAX_STORED_CALLS

from .conftest import FakeClock
from .limiter_support import RecordingStore
from .test_quota_store import warnings

NOON = datetime(2026, 11, 21, 12, tzinfo=UTC)
TODAY = datetime(2026, 11, 21, tzinfo=UTC)

NONSENSE = {
    "fractional count": (TODAY, 3.5),
    "infinite count": (TODAY, math.inf),
    "NaN count": (TODAY, math.nan),
    "negative count": (TODAY, -5),
    "absurd count": (TODAY, 2**63),
    "bool count": (TODAY, True),
    "Decimal count": (TODAY, Decimal(3)),
    "naive day": (datetime(2026, 11, 21), 3),
    "a date for a day": (TODAY.date(), 3),
    "a string for a day": ("2026-11-21", 3),
    "naive spent until": (TODAY, 3, datetime(2026, 11, 21, 18)),
    "a float for spent until": (TODAY, 3, 1e9),
    "four items": (TODAY, 3, None, 4),
    "one item": (TODAY,),
    "a dict": {"day": TODAY, "used": 3},
    "a string": "garbage",
    "an int": 42,
}


@pytest.mark.parametrize("stored", NONSENSE.values(), ids=NONSENSE.keys())
@pytest.mark.asyncio
async def test_nonsense_from_a_store_is_not_taken_up_and_fails_no_call(
    stored: object, caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordingStore(stored)  # type: ignore[arg-type]
    clock = FakeClock(NOON)
    rate = RateLimit(per_day=5, store=store, clock=clock, flush_delay=0)
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        for _ in range(5):
            await rate.acquire()
    quota = rate.snapshot()
    assert (quota.used_today, quota.remaining_today) == (5, 0)
    assert type(quota.used_today) is int
    assert quota.resets_at == TODAY + timedelta(days=1)
    assert isinstance(rate.store_error, TypeError | ValueError)
    assert len(warnings(caplog)) == 1
    await rate.flush()
    assert store.saves == [(TODAY, 5)]
    assert all(type(used) is int for _, used in store.saves)


@pytest.mark.parametrize("used", [0, 499, 500, 10_000, MAX_STORED_CALLS])
@pytest.mark.asyncio
async def test_a_possible_count_is_taken_up_however_large(used: int) -> None:
    """A count over per_day is what other processes spent: the day is full, not broken."""
    rate = RateLimit(per_day=500, store=RecordingStore((TODAY, used)), clock=FakeClock(NOON))
    await rate.load()
    assert rate.snapshot().used_today == used
    assert rate.store_error is None


@pytest.mark.parametrize(
    "day",
    [
        TODAY + timedelta(days=2),  # further ahead than another process's clock could be
        TODAY + timedelta(hours=29),  # tomorrow, but at no window start
        datetime.max.replace(tzinfo=UTC),
        TODAY - timedelta(days=1),  # yesterday
        datetime.min.replace(tzinfo=UTC),
    ],
)
@pytest.mark.asyncio
async def test_a_stored_window_that_is_not_today_or_tomorrow_is_ignored(day: datetime) -> None:
    store = RecordingStore((day, 400))
    rate = RateLimit(per_day=500, store=store, clock=FakeClock(NOON), flush_delay=0)
    await rate.acquire()
    quota = rate.snapshot()
    assert (quota.used_today, quota.resets_at) == (1, TODAY + timedelta(days=1))
    assert store.saves == [(TODAY, 1)]


@pytest.mark.asyncio
async def test_a_store_that_always_loads_nonsense_but_saves_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once a save has put this limiter's count in the store, there is nothing left unread:
    the store is not read (and warned about) again before every write."""
    store = RecordingStore("garbage")  # type: ignore[arg-type]
    clock = FakeClock(NOON)
    rate = RateLimit(per_day=None, store=store, clock=clock)
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        for _ in range(300):
            await rate.acquire()
            clock.advance(1)
    assert len(warnings(caplog)) == 1
    assert store.loads == 2  # once at the first call, once more before the first write
    assert len(store.saves) == 300 - int(FAILING_DELAY)


class Unanswerable:
    """A store whose ``load`` and ``save`` are not coroutines (a sync store by mistake)."""

    def load(self) -> tuple[datetime, int]:
        return (TODAY, 3)

    def save(self, day: datetime, used: int) -> None:
        pass


@pytest.mark.asyncio
async def test_a_store_of_plain_functions_fails_no_call(caplog: pytest.LogCaptureFixture) -> None:
    rate = RateLimit(per_day=5, store=Unanswerable(), clock=FakeClock(NOON), flush_delay=0)
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        for _ in range(3):
            await rate.acquire()
        await rate.flush()
    assert rate.snapshot().used_today == 3
    assert isinstance(rate.store_error, TypeError)
    assert len(warnings(caplog)) == 1
