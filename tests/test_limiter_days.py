"""The daily window on clocks that jump and on DST nights: never backwards, one reset a day.

The clocks here (``JumpClock``) step the wall clock either way while monotonic time only moves
on, as NTP or an administrator does; no test sleeps. The property over arbitrary jumps is in
``test_limiter_clocks.py``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest

from legrand_async import QuotaExhausted, RateLimit

from .limiter_support import JumpClock, RecordingStore

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
MIDNIGHT = time(0, tzinfo=UTC)


def run(main: object) -> None:
    anyio.run(main)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# A wall clock stepping back
# --------------------------------------------------------------------------------------------


def test_a_clock_stepping_back_over_midnight_does_not_reset_the_count() -> None:
    async def main() -> None:
        clock = JumpClock(datetime(2026, 11, 22, 0, 0, 30, tzinfo=UTC))
        rate = RateLimit(per_day=3, clock=clock)
        for _ in range(3):
            await rate.acquire()
        clock.step(-60)  # back to 23:59:30 the day before
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert info.value.resets_at == datetime(2026, 11, 23, tzinfo=UTC)
        quota = rate.snapshot()
        assert (quota.used_today, quota.remaining_today) == (3, 0)
        assert quota.resets_at == datetime(2026, 11, 23, tzinfo=UTC)
        clock.advance(60)  # midnight again: still the same day, no second reset
        with pytest.raises(QuotaExhausted):
            await rate.acquire()
        clock.advance(86_400)
        await rate.acquire()  # the next day, once
        assert rate.snapshot().used_today == 1

    run(main)


def test_calls_after_a_step_back_count_in_the_day_the_clock_shows_too() -> None:
    """Two calls on the 21st, one after midnight, the clock back on the 21st: one more there."""

    async def main() -> None:
        clock = JumpClock(datetime(2026, 11, 21, 23, 58, tzinfo=UTC))
        rate = RateLimit(per_day=3, clock=clock)
        await rate.acquire()
        await rate.acquire()
        clock.advance(180)  # 00:01 on the 22nd: a new day
        await rate.acquire()
        assert rate.snapshot().used_today == 1
        clock.step(-120)  # 23:59 on the 21st again
        await rate.acquire()  # the 21st's third call (the 22nd's second)
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()  # the 21st is full, though the 22nd is not
        assert info.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
        clock.advance(60)  # the 22nd by the clock as well: its third call
        await rate.acquire()
        with pytest.raises(QuotaExhausted):
            await rate.acquire()

    run(main)


def test_a_clock_jumping_forward_starts_the_new_day() -> None:
    async def main() -> None:
        clock = JumpClock(datetime(2026, 11, 21, 12, tzinfo=UTC))
        rate = RateLimit(per_day=1, clock=clock)
        await rate.acquire()
        clock.step(86_400)  # suspended overnight: the monotonic clock did not see it
        await rate.acquire()
        assert rate.snapshot().resets_at == datetime(2026, 11, 23, tzinfo=UTC)

    run(main)


def test_a_restart_with_the_clock_behind_keeps_the_stored_newer_day() -> None:
    """The store holds tomorrow's window (the clock was ahead): a restart keeps counting it."""

    async def main() -> None:
        clock = JumpClock(datetime(2026, 11, 21, 23, 59, tzinfo=UTC))
        store = RecordingStore((datetime(2026, 11, 22, tzinfo=UTC), 3))
        rate = RateLimit(per_day=3, clock=clock, store=store)
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert info.value.resets_at == datetime(2026, 11, 23, tzinfo=UTC)
        # A store's day far in the future is a broken one, not a clock ahead: ignored.
        far = RecordingStore((datetime(2026, 12, 25, tzinfo=UTC), 3))
        await RateLimit(per_day=3, clock=clock, store=far).acquire()

    run(main)


# --------------------------------------------------------------------------------------------
# DST nights: one reset per calendar day, the window always contains now
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "reset", "start"),
    [
        # Rome: 02:30 does not exist on 29 March 2026 and happens twice on 25 October.
        (ROME, time(2, 30), datetime(2026, 3, 27, 12, tzinfo=UTC)),
        (ROME, time(2, 30), datetime(2026, 10, 23, 12, tzinfo=UTC)),
        (ROME, time(2, 0), datetime(2026, 3, 27, 12, tzinfo=UTC)),
        (ROME, time(3, 0), datetime(2026, 3, 27, 12, tzinfo=UTC)),
        (ROME, time(2, 0), datetime(2026, 10, 23, 12, tzinfo=UTC)),
        (ROME, time(0, 0), datetime(2026, 10, 23, 12, tzinfo=UTC)),
        # New York: 02:30 does not exist on 8 March 2026, 01:30 happens twice on 1 November.
        (NEW_YORK, time(2, 30), datetime(2026, 3, 6, 12, tzinfo=UTC)),
        (NEW_YORK, time(1, 30), datetime(2026, 10, 30, 12, tzinfo=UTC)),
        (NEW_YORK, time(1, 0), datetime(2026, 10, 30, 12, tzinfo=UTC)),
    ],
)
def test_one_reset_per_calendar_day_across_dst(
    zone: ZoneInfo, reset: time, start: datetime
) -> None:
    """Four days walked in 5-minute steps, a call at each: the count resets once a local date."""

    async def main() -> None:
        clock = JumpClock(start)
        rate = RateLimit(per_day=10_000, day_resets_at=reset.replace(tzinfo=zone), clock=clock)
        resets: list[datetime] = []
        previous = 0
        for _ in range(4 * 24 * 12):
            await rate.acquire()
            quota = rate.snapshot()
            now = clock.now()
            window = rate.window_start(now)
            assert window <= now < quota.resets_at  # the current window contains now
            assert quota.resets_at - window <= timedelta(hours=26)
            if quota.used_today <= previous:
                resets.append(now)
            previous = quota.used_today
            clock.advance(300)
        dates = Counter(moment.astimezone(zone).date() for moment in resets)
        assert len(resets) == 4, resets
        assert set(dates.values()) == {1}, resets

    run(main)


@pytest.mark.parametrize(
    ("zone", "reset", "day", "start"),
    [
        # A skipped 02:30 is read with the offset before the jump: 03:30 summer time.
        (ROME, time(2, 30), date(2026, 3, 29), "2026-03-29T01:30Z"),
        # A repeated 02:30 starts the window at its first occurrence.
        (ROME, time(2, 30), date(2026, 10, 25), "2026-10-25T00:30Z"),
        (NEW_YORK, time(2, 30), date(2026, 3, 8), "2026-03-08T07:30Z"),
        (NEW_YORK, time(1, 30), date(2026, 11, 1), "2026-11-01T05:30Z"),
    ],
)
def test_the_start_of_a_dst_night(zone: ZoneInfo, reset: time, day: date, start: str) -> None:
    rate = RateLimit(day_resets_at=reset.replace(tzinfo=zone))
    begins = datetime.fromisoformat(start)
    assert rate.window_start(begins) == begins
    assert rate.window_start(begins - timedelta(microseconds=1)) < begins
    # Every instant of the repeated hour belongs to the window that began at the first 02:30.
    for minutes in range(0, 120, 5):
        assert rate.window_start(begins + timedelta(minutes=minutes)) == begins
    assert begins.astimezone(zone).date() == day
