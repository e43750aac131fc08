"""The limiter against hostile clocks: arbitrary jumps either way across the DST nights of
zones with odd rules (30-minute DST, DST at midnight, a skipped day), clocks at the ends of
``datetime``'s range, clocks that give naive or non-UTC times. Whatever the clock does, no day
lets more than ``per_day`` calls through, a day resets once, the window holds now, and
``client.quota`` reads."""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async import Quota, QuotaExhausted, RateLimit
from legrand_async.simulator import Simulator
from legrand_async.testing import FakeClock, signed_in_client

from .limiter_support import JumpClock

DAY = 86_400.0

# Nights when the local clock changes (UTC instants), each with its zone.
NIGHTS = [
    ("Europe/London", datetime(2026, 3, 29, 1, tzinfo=UTC)),  # 01:00 GMT -> 02:00 BST
    ("Europe/London", datetime(2026, 10, 25, 1, tzinfo=UTC)),  # 02:00 BST -> 01:00 GMT
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),  # 02:00 -> 01:30
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),  # 02:00 -> 02:30
    ("America/Sao_Paulo", datetime(2018, 11, 4, 3, tzinfo=UTC)),  # midnight -> 01:00
    ("America/Sao_Paulo", datetime(2019, 2, 17, 2, tzinfo=UTC)),  # midnight -> 23:00
    ("Pacific/Apia", datetime(2011, 12, 30, 10, tzinfo=UTC)),  # 29 Dec 24:00 -> 31 Dec 00:00
    ("Pacific/Apia", datetime(2021, 4, 3, 14, tzinfo=UTC)),  # 04:00 -> 03:00
    ("Europe/Rome", datetime(2026, 3, 29, 1, tzinfo=UTC)),
    ("Europe/Rome", datetime(2026, 10, 25, 1, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 8, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ("UTC", datetime(2026, 11, 22, tzinfo=UTC)),
]
RESET_TIMES = [time(hour, minute) for hour in (0, 1, 2, 3, 23) for minute in (0, 30, 59)]


def resets_at_of(zone: str, at: time) -> time:
    return at.replace(tzinfo=ZoneInfo(zone))


def check(quota: Quota, now: datetime, per_day: int | None) -> None:
    """What every snapshot must say, whatever happened before."""
    assert quota.resets_at.utcoffset() == timedelta(0)
    assert quota.resets_at > now  # the window (or the pause) that holds now ends later
    assert quota.used_today >= 0
    if per_day is None:
        assert quota.remaining_today is None
    else:
        assert quota.remaining_today is not None
        assert quota.remaining_today in (0, max(0, per_day - quota.used_today))
    if quota.paused_until is not None:
        assert quota.paused_until.utcoffset() == timedelta(0)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(0, 2 * DAY)),
        st.tuples(st.just("advance"), st.floats(0, 5400)),
        st.tuples(st.just("step"), st.floats(-2 * DAY, 2 * DAY)),
        st.tuples(st.just("step"), st.floats(-5400, 5400)),
        st.tuples(st.just("calls"), st.integers(1, 6)),
    ),
    max_size=40,
)


@given(
    night=st.sampled_from(NIGHTS),
    before=st.floats(0, 1.5 * DAY),
    at=st.sampled_from(RESET_TIMES),
    per_day=st.integers(1, 5),
    operations=OPERATIONS,
)
@settings(max_examples=300, deadline=None)
def test_no_day_lets_more_than_per_day_through_whatever_the_clock_does(
    night: tuple[str, datetime],
    before: float,
    at: time,
    per_day: int,
    operations: list[tuple[str, float]],
) -> None:
    """Calls grouped by the window the clock showed and by the newest window it had shown:
    neither ever holds more than ``per_day``, and neither is forgotten (``used_today`` is at
    least the calls of both); the count never drops while the clock stays in one window, and
    the newest window is never reset; every snapshot reads and holds now."""
    zone, when = night
    reset = resets_at_of(zone, at)

    async def main() -> None:
        clock = JumpClock(when - timedelta(seconds=before))
        rate = RateLimit(per_day=per_day, day_resets_at=reset, clock=clock)
        by_shown: Counter[datetime] = Counter()
        by_newest: Counter[datetime] = Counter()
        newest: datetime | None = None
        previous, previous_shown = 0, None
        for kind, amount in operations:
            if kind == "advance":
                clock.advance(amount)
            elif kind == "step":
                clock.step(amount)
            now = clock.now()
            shown = rate.window_start(now)
            assert shown <= now
            newest = shown if newest is None else max(newest, shown)
            quota = rate.snapshot()
            check(quota, now, per_day)
            assert quota.used_today >= max(by_newest[newest], by_shown[shown])
            if quota.used_today < previous:  # only as the clock leaves a window
                assert shown != previous_shown
            for _ in range(int(amount) if kind == "calls" else 0):
                try:
                    await rate.acquire()
                except QuotaExhausted as exc:
                    refused = exc
                else:
                    by_shown[shown] += 1
                    by_newest[newest] += 1
                    continue
                assert refused.resets_at > now
                assert refused.resets_at.utcoffset() == timedelta(0)
            previous, previous_shown = rate.snapshot().used_today, shown
        assert max(by_shown.values(), default=0) <= per_day
        assert max(by_newest.values(), default=0) <= per_day

    anyio.run(main)


@pytest.mark.parametrize(("zone", "when"), NIGHTS)
@pytest.mark.parametrize("at", [time(0), time(2, 30), time(23, 59)])
def test_one_reset_per_day_on_odd_dst_nights(zone: str, when: datetime, at: time) -> None:
    """Three days walked in 10-minute steps across the night, a call at each: one reset per
    window, each window 22 to 26 hours long and holding now; 30 December 2011 did not happen
    in Apia, so its window is empty and that night has no reset of its own."""
    reset = resets_at_of(zone, at)

    async def main() -> None:
        clock = JumpClock(when - timedelta(days=1, hours=1))
        rate = RateLimit(per_day=None, day_resets_at=reset, clock=clock)
        seen: list[datetime] = []
        previous = -1
        for _ in range(3 * 24 * 6):
            await rate.acquire()
            now, quota = clock.now(), rate.snapshot()
            start = rate.window_start(now)
            assert start <= now < quota.resets_at
            assert timedelta(hours=22) <= quota.resets_at - start <= timedelta(hours=26)
            if quota.used_today <= previous:
                seen.append(start)
            previous = quota.used_today
            clock.advance(600)
        local_dates = Counter(start.astimezone(ZoneInfo(zone)).date() for start in seen)
        assert len(seen) in (2, 3)
        assert set(local_dates.values()) == {1}, seen

    anyio.run(main)


def test_the_day_apia_skipped_has_no_window() -> None:
    rate = RateLimit(day_resets_at=time(0, tzinfo=ZoneInfo("Pacific/Apia")))
    before = datetime(2011, 12, 30, 9, 59, tzinfo=UTC)  # 23:59 on 29 December, UTC-10
    after = datetime(2011, 12, 30, 10, tzinfo=UTC)  # 00:00 on 31 December, UTC+14
    assert rate.window_start(before) == datetime(2011, 12, 29, 10, tzinfo=UTC)
    assert rate.window_start(after) == after


# --------------------------------------------------------------------------------------------
# Clocks that give odd times
# --------------------------------------------------------------------------------------------


class OddClock(FakeClock):
    """A FakeClock whose ``now()`` is given naive, or in another zone."""

    def __init__(self, start: datetime, zone: timezone | ZoneInfo | None) -> None:
        super().__init__(start)
        self.zone = zone

    def now(self) -> datetime:
        now = super().now()
        if self.zone is None:
            return now.astimezone(UTC).replace(tzinfo=None)
        return now.astimezone(self.zone)


@pytest.mark.parametrize(
    "zone", [None, ZoneInfo("Europe/Rome"), timezone(timedelta(hours=-11)), UTC]
)
def test_a_clock_giving_naive_or_local_times_is_read_as_utc(
    zone: timezone | ZoneInfo | None,
) -> None:
    """A naive ``now()`` is UTC; every time the limiter gives back is aware UTC all the same."""
    clock = OddClock(datetime(2026, 11, 21, 23, 59, 30, tzinfo=UTC), zone)
    rate = RateLimit(per_day=2, clock=clock)

    async def main() -> None:
        await rate.acquire()
        await rate.acquire()
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert info.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
        assert info.value.resets_at.tzinfo is UTC
        rate.pause(10)
        quota = rate.snapshot()
        assert quota.paused_until == datetime(2026, 11, 21, 23, 59, 40, tzinfo=UTC)
        assert quota.paused_until.tzinfo is UTC
        rate.exhaust(datetime(2026, 11, 22, 0, 0, 10))  # naive: UTC
        assert rate.snapshot().resets_at == datetime(2026, 11, 22, 0, 0, 10, tzinfo=UTC)
        assert rate.now().tzinfo is UTC
        clock.advance(40)
        await rate.acquire()  # the next day
        assert rate.snapshot().used_today == 1

    anyio.run(main)


class StillClock:
    """A wall clock stuck at ``now`` (aware or naive), a monotonic clock that moves on."""

    def __init__(self, now: datetime) -> None:
        self._now, self._mono = now, 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        self._mono += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize(
    "now",
    [
        datetime.max.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
        datetime.min.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
        datetime.max,  # naive
        datetime.min,  # naive
    ],
)
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Niue", "UTC"])
def test_every_operation_reads_at_the_ends_of_time(now: datetime, zone: str) -> None:
    """Pauses and 403s of absurd lengths, calls and snapshots, with the wall clock stuck at
    either end of ``datetime``'s range (naive or in a zone whose UTC time overflows)."""
    clock = StillClock(now)
    at = time(23, 59, tzinfo=ZoneInfo(zone))
    rate = RateLimit(per_day=2, per_second=1, clock=clock, day_resets_at=at)

    async def main() -> None:
        for seconds in (1e9, 1e308, math.inf, -math.inf, math.nan, 30):
            rate.pause(seconds)
            rate.snapshot()
        for until in (None, datetime.max, datetime.min, datetime(9999, 12, 31, tzinfo=UTC)):
            rate.exhaust(until)
            rate.snapshot()
        await clock.sleep(RateLimit.MAX_EXHAUSTION)
        for _ in range(3):
            with contextlib.suppress(QuotaExhausted):
                await rate.acquire()
            quota = rate.snapshot()
            assert quota.resets_at.utcoffset() == timedelta(0)
            assert quota.remaining_today in (0, 1, 2)

    anyio.run(main)


# --------------------------------------------------------------------------------------------
# End to end: the simulator's gateway, a client, a clock stepping back across a DST night
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_client_on_a_stepping_clock_never_exceeds_the_day() -> None:
    """Calls every 20 minutes across London's autumn night, the wall clock stepped back an hour
    after each reset (NTP fighting a bad RTC): the daily window at 02:30 London time lets
    through at most per_day calls a window, and client.quota reads throughout."""
    zone = ZoneInfo("Europe/London")
    clock = JumpClock(datetime(2026, 10, 24, 12, tzinfo=UTC))
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, clock=clock)  # type: ignore[arg-type]
    rate = RateLimit(per_day=20, day_resets_at=time(2, 30, tzinfo=zone), clock=clock)
    by_window: Counter[datetime] = Counter()
    async with signed_in_client(sim, rate_limit=rate, clock=clock) as client:  # type: ignore[arg-type]
        plant = sim.plants[0]
        module = plant.thermostats[0]
        stepped: set[datetime] = set()
        for _ in range(3 * 24 * 3):
            now = clock.now()
            start = rate.window_start(now)
            if start not in stepped and len(stepped) < 3 and now - start > timedelta(minutes=30):
                stepped.add(start)
                clock.step(-3600)
                now = clock.now()
            try:
                await client.smarther.get_status(plant.id, module.id)
            except QuotaExhausted:
                pass
            else:
                by_window[rate.window_start(now)] += 1
            quota = client.quota
            assert quota is not None
            check(quota, clock.now(), 20)
            clock.advance(1200)
    assert max(by_window.values()) <= 20
    assert len(by_window) >= 3
