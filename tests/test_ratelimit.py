"""The limiter: per-second and per-day windows, FIFO, 429 pauses, 403 quota, stores, time zones.

Time is virtual: :class:`VirtualClock` parks every ``sleep`` until a driver task, once every
other task is blocked, moves time to the earliest deadline and wakes that sleeper (like trio's
autojumping ``MockClock``, but for any anyio backend). So concurrent sleeps overlap as they
would for real, the timings asserted below are exact, and no test waits for real.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx
import sniffio

from legrand_async import (
    FileQuotaStore,
    Forbidden,
    LegrandClient,
    Quota,
    QuotaExhausted,
    QuotaStore,
    RateLimit,
    RetryPolicy,
    ServerQuotaExhausted,
)

from .conftest import CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock, ok_status, wire

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
QUOTA_TEXT = "Out of call volume quota. Quota will be replenished in 01:02:03."


# --------------------------------------------------------------------------------------------
# Virtual time
# --------------------------------------------------------------------------------------------


async def _all_tasks_blocked() -> None:
    """Return once every other task of the run is blocked (waiting on something)."""
    if sniffio.current_async_library() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    import asyncio

    me = asyncio.current_task()
    for _ in range(100_000):
        await asyncio.sleep(0)
        waiting = (
            task is me or (task._fut_waiter is not None and not task._fut_waiter.done())  # type: ignore[attr-defined]
            for task in asyncio.all_tasks()
        )
        if all(waiting):
            return
    raise RuntimeError("some task never blocked")


class VirtualClock:
    """A Clock whose ``sleep`` waits for virtual time, moved on by :meth:`running`'s driver.

    Outside ``running()`` a sleep moves time on at once, as conftest's FakeClock does.
    """

    def __init__(self, start: datetime = NOON) -> None:
        self._now = start
        self._mono = 1000.0
        self._timers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()
        self._cancelled: set[int] = set()
        self._new_timer: anyio.Event | None = None
        self._driving = False
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._now

    def elapsed(self) -> float:
        """Virtual seconds since the clock was made."""
        return self._mono - 1000.0

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()  # as a real sleep is
        if seconds <= 0:
            return
        if not self._driving:  # nothing moves time on: jump at once
            self.advance(seconds)
            return
        event = anyio.Event()
        seq = next(self._seq)
        heapq.heappush(self._timers, (self._mono + seconds, seq, event))
        if self._new_timer is not None:
            self._new_timer.set()
        try:
            await event.wait()
        except BaseException:
            self._cancelled.add(seq)
            raise

    async def _drive(self) -> None:
        while True:
            await _all_tasks_blocked()
            while self._timers and self._timers[0][1] in self._cancelled:
                heapq.heappop(self._timers)
            if not self._timers:
                self._new_timer = anyio.Event()
                await self._new_timer.wait()
                self._new_timer = None
                continue
            deadline, _, event = heapq.heappop(self._timers)
            if deadline > self._mono:
                self.advance(deadline - self._mono)
            event.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[VirtualClock]:
        """Move time on while inside (a deadlock fails after 10 real seconds)."""
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(self._drive)
                self._driving = True
                try:
                    yield self
                finally:
                    self._driving = False
                    group.cancel_scope.cancel()


@asynccontextmanager
async def client_on(clock: VirtualClock, **kwargs: Any) -> AsyncIterator[LegrandClient]:
    """A client on ``clock`` and respx's wire, retries without jitter; pass ``rate_limit=``."""
    kwargs.setdefault("retry", RetryPolicy(jitter=0))
    async with LegrandClient(
        KEY, access_token=TOKEN, transport=wire(), clock=clock, **kwargs
    ) as client:
        yield client


def limit(clock: VirtualClock, **kwargs: Any) -> RateLimit:
    """A limiter on ``clock``: no windows unless given (per_day=None by default here)."""
    kwargs.setdefault("per_day", None)
    return RateLimit(clock=clock, **kwargs)


async def timed_acquires(clock: VirtualClock, rate: RateLimit, count: int) -> list[float]:
    """``count`` acquires one after the other; the virtual time each one returned."""
    times = []
    for _ in range(count):
        await rate.acquire()
        times.append(clock.elapsed())
    return times


def is_utc(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


@pytest.fixture
def vclock() -> VirtualClock:
    return VirtualClock()


# --------------------------------------------------------------------------------------------
# The limiter on its own: windows
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_per_second_third_acquire_waits_until_a_second_after_the_first(
    vclock: VirtualClock,
) -> None:
    rate = limit(vclock, per_second=2)
    async with vclock.running():
        await rate.acquire()
        vclock.advance(0.25)
        await rate.acquire()
        assert vclock.elapsed() == 0.25  # two in the window: no wait
        await rate.acquire()
        assert vclock.elapsed() == pytest.approx(1.0)  # a second after the first
        await rate.acquire()
        assert vclock.elapsed() == pytest.approx(1.25)  # a second after the second
        assert await timed_acquires(vclock, rate, 2) == pytest.approx([2.0, 2.25])


@pytest.mark.asyncio
async def test_per_second_holds_where_floats_round() -> None:
    # 1 + 2**-52 plus the one-second window rounds to exactly 2.0: the wait for the oldest start
    # is 0 there, and that start must leave the window then, else every call at 2.0 goes.
    from legrand_async.testing import FakeClock

    clock = FakeClock()
    rate = RateLimit(per_second=10, per_day=None, clock=clock)
    clock.advance(1 + 2**-52)
    starts = []
    for _ in range(10):
        await rate.acquire()
        starts.append(clock.monotonic())
    clock.advance(2.0 - clock.monotonic())
    assert clock.monotonic() == 2.0
    for _ in range(20):
        await rate.acquire()
        starts.append(clock.monotonic())
    for t in starts:  # the calls started in the one-second window that ends at t
        assert sum(u <= t < u + 1 for u in starts) <= 10, starts
    assert starts[-10:] == [3.0] * 10


@pytest.mark.asyncio
async def test_per_second_steady_pace(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=5)
    async with vclock.running():
        times = await timed_acquires(vclock, rate, 20)
    assert times == pytest.approx([float(i // 5) for i in range(20)])
    for i in range(len(times)):
        in_window = [t for t in times if times[i] - 1 < t <= times[i]]
        assert len(in_window) <= 5


@pytest.mark.asyncio
async def test_per_day_fourth_raises_with_the_next_window_start(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_day=3)
    async with vclock.running():
        for _ in range(3):
            await rate.acquire()
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
    assert info.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
    assert is_utc(info.value.resets_at)
    assert vclock.sleeps == []  # raised at once
    quota = rate.snapshot()
    assert (quota.used_today, quota.remaining_today) == (3, 0)
    assert quota.resets_at == datetime(2026, 11, 22, tzinfo=UTC)


@pytest.mark.asyncio
async def test_per_day_comes_back_at_the_next_window(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_day=3)
    async with vclock.running():
        for _ in range(3):
            await rate.acquire()
        vclock.advance(12 * 3600 - 1)  # 23:59:59
        with pytest.raises(QuotaExhausted):
            await rate.acquire()
        vclock.advance(1)  # midnight UTC
        await rate.acquire()
    quota = rate.snapshot()
    assert (quota.used_today, quota.remaining_today) == (1, 2)
    assert quota.resets_at == datetime(2026, 11, 23, tzinfo=UTC)


@pytest.mark.asyncio
async def test_windows_are_checked_together_and_spent_together(vclock: VirtualClock) -> None:
    """A call refused by one window spends nothing in the other."""
    rate = limit(vclock, per_second=1, per_day=2, max_wait=0.5)
    async with vclock.running():
        await rate.acquire()
        with pytest.raises(QuotaExhausted):
            await rate.acquire()  # the per-second window says 1 s: longer than max_wait
        assert rate.snapshot().used_today == 1  # the day was not spent
        vclock.advance(1)
        await rate.acquire()
        assert rate.snapshot().used_today == 2
        vclock.advance(1)
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()  # now the day says no (and the second would have said yes)
    assert info.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
    assert rate.snapshot().used_today == 2


@pytest.mark.asyncio
async def test_max_wait_raises_at_once_with_when_the_slot_comes(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=1, max_wait=0.5)
    async with vclock.running():
        await rate.acquire()
        vclock.advance(0.25)
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert vclock.elapsed() == 0.25  # no sleep at all
    assert vclock.sleeps == []
    assert info.value.resets_at == NOON + timedelta(seconds=1)  # when the window frees a slot
    assert is_utc(info.value.resets_at)


@pytest.mark.asyncio
async def test_a_wait_within_max_wait_is_slept(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=1, max_wait=1.0)
    async with vclock.running():
        assert await timed_acquires(vclock, rate, 3) == pytest.approx([0.0, 1.0, 2.0])


@pytest.mark.asyncio
async def test_max_wait_zero_never_sleeps(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=2, max_wait=0)
    async with vclock.running():
        await rate.acquire()
        await rate.acquire()
        with pytest.raises(QuotaExhausted):
            await rate.acquire()
    assert vclock.sleeps == []


@pytest.mark.asyncio
async def test_max_wait_bounds_the_whole_wait_of_a_queued_caller(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=1, max_wait=1.5)
    waited: list[tuple[float, str]] = []

    async def call() -> None:
        start = vclock.elapsed()
        try:
            await rate.acquire()
            outcome = "acquired"
        except QuotaExhausted:
            outcome = "QuotaExhausted"
        waited.append((vclock.elapsed() - start, outcome))

    async with vclock.running(), anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(call)
    # Today: [(0, acquired), (1, acquired), (2, acquired), (3, acquired), (4, acquired)].
    assert max(seconds for seconds, _ in waited) <= 1.5, waited


@pytest.mark.asyncio
async def test_fractional_per_second_below_one_spaces_calls(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=0.5)  # one call every two seconds
    async with vclock.running():
        times = await timed_acquires(vclock, rate, 3)
    assert times == pytest.approx([0.0, 2.0, 4.0])  # today: [0.0, 1.0, 2.0]


# --------------------------------------------------------------------------------------------
# Fairness, pauses, the server's word
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_fifo_ten_tasks_acquire_in_arrival_order(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_second=1)
    arrived: list[int] = []
    served: list[tuple[int, float]] = []

    async def call(index: int) -> None:
        arrived.append(index)
        await rate.acquire()
        served.append((index, vclock.elapsed()))

    order = [3, 7, 0, 9, 1, 5, 8, 2, 6, 4]
    async with vclock.running(), anyio.create_task_group() as group:
        for index in order:
            group.start_soon(call, index)
            await anyio.lowlevel.checkpoint()  # let it arrive before the next one starts
    assert arrived == order
    assert [index for index, _ in served] == arrived
    assert [t for _, t in served] == pytest.approx([float(i) for i in range(10)])


@pytest.mark.asyncio
async def test_no_starvation_a_late_caller_does_not_overtake(vclock: VirtualClock) -> None:
    """Callers arriving while others wait go behind them, even when a slot is free on arrival."""
    rate = limit(vclock, per_second=2)
    served: list[str] = []

    async def call(name: str, delay: float = 0.0) -> None:
        if delay:
            await vclock.sleep(delay)
        await rate.acquire()
        served.append(name)

    async with vclock.running(), anyio.create_task_group() as group:
        for name in "abcdef":
            group.start_soon(call, name)
            await anyio.lowlevel.checkpoint()
        group.start_soon(call, "late", 1.5)
    # a, b at 0; c, d at 1; e, f at 2; "late" arrived at 1.5 and went after e and f.
    assert served == [*"abcdef", "late"]
    assert vclock.elapsed() == pytest.approx(3.0)


@pytest.mark.asyncio
async def test_pause_delays_every_waiter(vclock: VirtualClock) -> None:
    rate = limit(vclock)
    served: list[float] = []

    async def call() -> None:
        await rate.acquire()
        served.append(vclock.elapsed())

    async with vclock.running():
        rate.pause(5)
        quota = rate.snapshot()
        assert quota.paused_until == NOON + timedelta(seconds=5)
        assert is_utc(quota.paused_until)
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(call)
    assert served == pytest.approx([5.0] * 5)
    assert rate.snapshot().paused_until is None


@pytest.mark.asyncio
async def test_pause_during_a_wait_extends_it(vclock: VirtualClock) -> None:
    """A 429 that arrives while a caller sleeps on the per-second window holds it too."""
    rate = limit(vclock, per_second=1)
    async with vclock.running():
        await rate.acquire()
        async with anyio.create_task_group() as group:
            group.start_soon(rate.acquire)  # sleeps until 1.0
            await vclock.sleep(0.5)
            rate.pause(3)  # until 3.5
        assert vclock.elapsed() == pytest.approx(3.5)


@pytest.mark.asyncio
async def test_pauses_do_not_shorten_each_other(vclock: VirtualClock) -> None:
    rate = limit(vclock)
    rate.pause(10)
    rate.pause(2)
    async with vclock.running():
        await rate.acquire()
    assert vclock.elapsed() == pytest.approx(10.0)


@pytest.mark.asyncio
async def test_pause_longer_than_max_wait_raises_at_once(vclock: VirtualClock) -> None:
    rate = limit(vclock, max_wait=60)
    rate.pause(90)
    with pytest.raises(QuotaExhausted) as info:
        await rate.acquire()
    assert info.value.resets_at == NOON + timedelta(seconds=90)
    assert vclock.sleeps == []


@pytest.mark.asyncio
async def test_exhaust_makes_acquire_raise_until_then(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_day=500)
    resets = NOON + timedelta(hours=1, minutes=2, seconds=3)
    rate.exhaust(resets)
    quota = rate.snapshot()
    assert (quota.remaining_today, quota.resets_at) == (0, resets)
    for seconds in (0, 60, 3662):  # at 12:00:00, 12:01:00, 13:02:02
        vclock.advance(seconds)
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert info.value.resets_at == resets
    assert vclock.sleeps == []


@pytest.mark.asyncio
async def test_exhaust_without_a_time_holds_until_the_next_window(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_day=500)
    rate.exhaust(None)
    with pytest.raises(QuotaExhausted) as info:
        await rate.acquire()
    assert info.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
    vclock.advance(12 * 3600)
    await rate.acquire()
    assert rate.snapshot().used_today == 1


@pytest.mark.asyncio
async def test_exhaust_then_free_again_without_a_daily_window(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_day=None)
    resets = NOON + timedelta(minutes=5)
    rate.exhaust(resets)
    with pytest.raises(QuotaExhausted):
        await rate.acquire()
    vclock.advance(300)
    await rate.acquire()


@pytest.mark.asyncio
async def test_exhaust_ends_when_the_server_said(vclock: VirtualClock) -> None:
    rate = limit(vclock, per_day=500)
    resets = NOON + timedelta(hours=1, minutes=2, seconds=3)
    rate.exhaust(resets)
    vclock.advance(3723 + 1)  # 13:02:04 UTC, the local window (midnight UTC) has not rolled
    quota = rate.snapshot()
    assert quota.resets_at > vclock.now(), quota  # today: resets_at == 13:02:03, in the past
    await rate.acquire()  # today: QuotaExhausted(resets_at=2026-11-22 00:00 UTC)


# --------------------------------------------------------------------------------------------
# The daily window: time zones and DST
# --------------------------------------------------------------------------------------------


def test_default_day_resets_at_midnight_utc() -> None:
    rate = RateLimit()
    assert rate.day_resets_at == time(0, tzinfo=UTC)
    assert rate.window_start(NOON) == datetime(2026, 11, 21, tzinfo=UTC)
    assert rate.window_start(datetime(2026, 11, 21, tzinfo=UTC)) == datetime(
        2026, 11, 21, tzinfo=UTC
    )
    assert rate.window_start(datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)) == datetime(
        2026, 11, 20, tzinfo=UTC
    )


@pytest.mark.asyncio
async def test_day_rolls_over_at_three_in_rome() -> None:
    clock = VirtualClock(datetime(2026, 11, 21, 1, 59, tzinfo=UTC))  # 02:59 in Rome (CET)
    rate = limit(clock, per_day=1, day_resets_at=time(3, tzinfo=ROME))
    async with clock.running():
        await rate.acquire()
        with pytest.raises(QuotaExhausted) as info:
            await rate.acquire()
        assert info.value.resets_at == datetime(2026, 11, 21, 3, tzinfo=ROME)
        assert info.value.resets_at == datetime(2026, 11, 21, 2, tzinfo=UTC)
        assert is_utc(info.value.resets_at)
        clock.advance(59)
        with pytest.raises(QuotaExhausted):
            await rate.acquire()  # 02:59:59
        clock.advance(1)  # 03:00:00 in Rome
        await rate.acquire()
    quota = rate.snapshot()
    assert (quota.used_today, quota.remaining_today) == (1, 0)
    assert quota.resets_at == datetime(2026, 11, 22, 2, tzinfo=UTC)
    assert is_utc(quota.resets_at)


# Europe/Rome: summer time begins 2026-03-29 02:00 CET and ends 2026-10-25 03:00 CEST.
@pytest.mark.parametrize(
    ("reset", "now", "start"),
    [
        # 03:00 Rome: the window of 28 March lasts 23 hours.
        (time(3, tzinfo=ROME), "2026-03-28T02:00Z", "2026-03-28T02:00Z"),
        (time(3, tzinfo=ROME), "2026-03-29T00:59:59Z", "2026-03-28T02:00Z"),
        (time(3, tzinfo=ROME), "2026-03-29T01:00Z", "2026-03-29T01:00Z"),
        # ...and the window of 24 October lasts 25 hours.
        (time(3, tzinfo=ROME), "2026-10-24T01:00Z", "2026-10-24T01:00Z"),
        (time(3, tzinfo=ROME), "2026-10-25T01:59:59Z", "2026-10-24T01:00Z"),
        (time(3, tzinfo=ROME), "2026-10-25T02:00Z", "2026-10-25T02:00Z"),
        # Midnight Rome on either side of the changes.
        (time(0, tzinfo=ROME), "2026-03-29T12:00Z", "2026-03-28T23:00Z"),
        (time(0, tzinfo=ROME), "2026-03-30T12:00Z", "2026-03-29T22:00Z"),
        (time(0, tzinfo=ROME), "2026-10-25T12:00Z", "2026-10-24T22:00Z"),
        (time(0, tzinfo=ROME), "2026-10-26T12:00Z", "2026-10-25T23:00Z"),
        # 02:30 does not exist on 29 March: the window starts at 03:30 CEST, an hour late.
        (time(2, 30, tzinfo=ROME), "2026-03-29T01:30Z", "2026-03-29T01:30Z"),
        # UTC itself, and Los Angeles (summer time from 2026-03-08 02:00 PST).
        (time(0, tzinfo=UTC), "2026-03-29T00:00Z", "2026-03-29T00:00Z"),
        (time(8, tzinfo=LOS_ANGELES), "2026-03-08T14:59Z", "2026-03-07T16:00Z"),
        (time(8, tzinfo=LOS_ANGELES), "2026-03-08T15:00Z", "2026-03-08T15:00Z"),
    ],
)
def test_window_start_across_dst(reset: time, now: str, start: str) -> None:
    rate = RateLimit(day_resets_at=reset)
    got = rate.window_start(datetime.fromisoformat(now))
    assert got == datetime.fromisoformat(start)
    assert is_utc(got)


def test_window_start_of_an_instant_given_in_another_zone() -> None:
    rate = RateLimit(day_resets_at=time(3, tzinfo=ROME))
    now = datetime(2026, 11, 21, 12, tzinfo=ZoneInfo("Asia/Tokyo"))  # 04:00 Rome
    assert rate.window_start(now) == datetime(2026, 11, 21, 2, tzinfo=UTC)
    assert is_utc(rate.window_start(now))


@pytest.mark.asyncio
async def test_resets_at_on_the_day_summer_time_starts() -> None:
    clock = VirtualClock(datetime(2026, 3, 29, 12, tzinfo=UTC))
    rate = limit(clock, per_day=1, day_resets_at=time(0, tzinfo=ROME))
    await rate.acquire()
    with pytest.raises(QuotaExhausted) as info:
        await rate.acquire()
    # Midnight Rome on 30 March is 22:00 UTC (CEST); today: 23:00 UTC.
    assert info.value.resets_at == datetime(2026, 3, 29, 22, tzinfo=UTC)
    assert rate.snapshot().resets_at == datetime(2026, 3, 29, 22, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Snapshots and arguments
# --------------------------------------------------------------------------------------------


def test_snapshot_fields(vclock: VirtualClock) -> None:
    rate = RateLimit(per_second=3, per_day=100, clock=vclock, day_resets_at=time(3, tzinfo=ROME))
    quota = rate.snapshot()
    assert isinstance(quota, Quota)
    assert quota == Quota(
        used_today=0,
        remaining_today=100,
        resets_at=datetime(2026, 11, 22, 2, tzinfo=UTC),
        paused_until=None,
        per_second=3,
        per_day=100,
    )
    assert is_utc(quota.resets_at)
    rate.pause(2.5)
    assert rate.snapshot().paused_until == NOON + timedelta(seconds=2.5)
    assert is_utc(rate.snapshot().paused_until)
    assert RateLimit(per_day=None, clock=vclock).snapshot().remaining_today is None
    assert rate.now() == NOON


def test_snapshot_without_a_clock_uses_the_system_clock() -> None:
    quota = RateLimit().snapshot()
    assert is_utc(quota.resets_at)
    assert quota.resets_at - datetime.now(UTC) <= timedelta(days=1)


def test_snapshot_resets_at_is_utc_after_exhaust_in_another_zone(vclock: VirtualClock) -> None:
    rate = RateLimit(clock=vclock)
    rate.exhaust(datetime(2026, 11, 21, 15, tzinfo=ROME))
    assert is_utc(rate.snapshot().resets_at)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_second": 0},
        {"per_second": -1},
        {"per_second": math.nan},
        {"per_day": 0},
        {"per_day": True},
        {"max_wait": -1},
        {"max_wait": math.nan},
        {"max_concurrency": 0},
        {"day_resets_at": time(0)},  # naive: which midnight?
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RateLimit(**kwargs)


def test_starter_kit_and_repr() -> None:
    kit = RateLimit.starter_kit()
    assert (kit.per_second, kit.per_day, kit.max_wait, kit.max_concurrency) == (
        None,
        500,
        60.0,
        None,
    )
    assert kit.day_resets_at == time(0, tzinfo=UTC)
    assert RateLimit.starter_kit() is not kit
    assert repr(kit) == (
        "RateLimit(per_second=None, per_day=500, max_wait=60.0, max_concurrency=None)"
    )


# --------------------------------------------------------------------------------------------
# Quota stores
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_file_store_survives_a_restart(vclock: VirtualClock, tmp_path: Path) -> None:
    path = tmp_path / "quota" / "today.json"
    first = limit(vclock, per_day=5, store=FileQuotaStore(path))
    assert isinstance(first.store, QuotaStore)
    for _ in range(3):
        await first.acquire()
    assert not path.exists()  # written behind: acquiring a slot does no I/O
    await first.flush()
    saved = json.loads(path.read_text())
    assert saved == {"day": "2026-11-21T00:00:00+00:00", "used": 3}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A new process: a new limiter on the same file continues today's count.
    vclock.advance(3600)
    second = limit(vclock, per_day=5, store=FileQuotaStore(path))
    await second.acquire()
    await second.acquire()
    assert second.snapshot().used_today == 5
    with pytest.raises(QuotaExhausted):
        await second.acquire()


@pytest.mark.asyncio
async def test_file_store_count_from_yesterday_is_ignored(
    vclock: VirtualClock, tmp_path: Path
) -> None:
    path = tmp_path / "today.json"
    path.write_text(json.dumps({"day": "2026-11-20T00:00:00+00:00", "used": 500}))
    rate = limit(vclock, per_day=500, store=FileQuotaStore(path))
    await rate.acquire()
    assert rate.snapshot().used_today == 1
    await rate.flush()
    assert json.loads(path.read_text()) == {"day": "2026-11-21T00:00:00+00:00", "used": 1}


@pytest.mark.asyncio
async def test_file_store_of_another_reset_time_is_ignored(
    vclock: VirtualClock, tmp_path: Path
) -> None:
    """A count kept for windows starting at midnight UTC is not today's for 03:00 Rome."""
    path = tmp_path / "today.json"
    path.write_text(json.dumps({"day": "2026-11-21T00:00:00+00:00", "used": 7}))
    rate = limit(
        vclock, per_day=500, day_resets_at=time(3, tzinfo=ROME), store=FileQuotaStore(path)
    )
    await rate.acquire()
    assert rate.snapshot().used_today == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"{}",
        b'{"day": "yesterday", "used": 3}',
        b'{"day": "2026-11-21T00:00:00+00:00", "used": "many"}',
        b'{"day": "2026-11-21T00:00:00+00:00"}',
        b"[1, 2]",
        b"\xff\xfe\x00",
    ],
)
@pytest.mark.asyncio
async def test_corrupt_store_file_is_ignored(
    vclock: VirtualClock, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "today.json"
    path.write_bytes(content)
    rate = limit(vclock, per_day=10, store=FileQuotaStore(path))
    await rate.acquire()
    assert rate.snapshot().used_today == 1
    await rate.flush()
    assert json.loads(path.read_text()) == {"day": "2026-11-21T00:00:00+00:00", "used": 1}


@pytest.mark.asyncio
async def test_missing_store_file_starts_afresh(vclock: VirtualClock, tmp_path: Path) -> None:
    store = FileQuotaStore(tmp_path / "none" / "today.json")
    assert await store.load() is None
    assert repr(store) == f"FileQuotaStore({str(tmp_path / 'none' / 'today.json')!r})"
    rate = limit(vclock, per_day=10, store=store)
    await rate.acquire()
    await rate.flush()
    assert await store.load() == (datetime(2026, 11, 21, tzinfo=UTC), 1)


@pytest.mark.asyncio
async def test_a_store_of_your_own(vclock: VirtualClock) -> None:
    class MemoryStore:
        def __init__(self) -> None:
            self.saved: tuple[datetime, int] | None = (datetime(2026, 11, 21, tzinfo=UTC), 9)
            self.loads = 0

        async def load(self) -> tuple[datetime, int] | None:
            self.loads += 1
            return self.saved

        async def save(self, day: datetime, used: int) -> None:
            self.saved = (day, used)

    store = MemoryStore()
    assert isinstance(store, QuotaStore)
    rate = limit(vclock, per_day=10, store=store)
    await rate.acquire()
    with pytest.raises(QuotaExhausted):
        await rate.acquire()
    await rate.flush()
    assert store.saved == (datetime(2026, 11, 21, tzinfo=UTC), 10)
    assert store.loads == 1  # loaded once, on the first acquire


@pytest.mark.asyncio
async def test_load_shows_the_stored_count_before_any_call(
    vclock: VirtualClock, tmp_path: Path
) -> None:
    path = tmp_path / "today.json"
    path.write_text(json.dumps({"day": "2026-11-21T00:00:00+00:00", "used": 120}))
    rate = limit(vclock, per_day=500, store=FileQuotaStore(path))
    assert rate.snapshot().used_today == 0  # not read yet
    await rate.load()
    assert (rate.snapshot().used_today, rate.snapshot().remaining_today) == (120, 380)
    await rate.load()  # once only: a second load does not read the file again
    path.write_text(json.dumps({"day": "2026-11-21T00:00:00+00:00", "used": 7}))
    await rate.load()
    await rate.acquire()
    assert rate.snapshot().used_today == 121


@pytest.mark.asyncio
async def test_a_403_exhaustion_is_kept_by_the_store(vclock: VirtualClock, tmp_path: Path) -> None:
    path = tmp_path / "today.json"
    first = limit(vclock, per_day=500, store=FileQuotaStore(path))
    await first.acquire()
    until = NOON + timedelta(hours=1)
    first.exhaust(until)
    await first.flush()
    assert json.loads(path.read_text()) == {
        "day": "2026-11-21T00:00:00+00:00",
        "used": 1,
        "exhausted_until": "2026-11-21T13:00:00+00:00",
    }
    second = limit(vclock, per_day=500, store=FileQuotaStore(path))
    with pytest.raises(QuotaExhausted) as info:
        await second.acquire()
    assert info.value.resets_at == until
    assert second.snapshot().remaining_today == 0
    # Once the server's time has come, calls go out again and the mark leaves the file.
    vclock.advance(3601)
    await second.acquire()  # more than flush_delay after the last write: this one writes
    assert json.loads(path.read_text()) == {"day": "2026-11-21T00:00:00+00:00", "used": 2}


@pytest.mark.asyncio
async def test_an_exhaustion_that_has_passed_is_ignored(
    vclock: VirtualClock, tmp_path: Path
) -> None:
    path = tmp_path / "today.json"
    path.write_text(
        json.dumps(
            {
                "day": "2026-11-21T00:00:00+00:00",
                "used": 3,
                "exhausted_until": "2026-11-21T11:00:00+00:00",  # an hour before NOON
            }
        )
    )
    rate = limit(vclock, per_day=500, store=FileQuotaStore(path))
    await rate.acquire()
    assert rate.snapshot().used_today == 4


@pytest.mark.asyncio
async def test_a_store_without_exhaustion_keeps_the_count_only(vclock: VirtualClock) -> None:
    class CountOnly:
        def __init__(self) -> None:
            self.saved: list[tuple[datetime, int]] = []

        async def load(self) -> tuple[datetime, int] | None:
            return None

        async def save(self, day: datetime, used: int) -> None:
            self.saved.append((day, used))

    store = CountOnly()
    rate = limit(vclock, per_day=500, store=store)
    await rate.acquire()
    rate.exhaust(NOON + timedelta(hours=1))
    await rate.flush()  # no exhausted_until for a store that does not take it
    day = datetime(2026, 11, 21, tzinfo=UTC)
    assert store.saved == [(day, 1)]  # one write for both changes


# --------------------------------------------------------------------------------------------
# Through the client
# --------------------------------------------------------------------------------------------


def error(status: int, message: str, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": status, "message": message}, **kwargs)


Handler = Callable[[httpx.Request], Any]


def recording(clock: VirtualClock, answer: Callable[[int], Any]) -> tuple[Handler, list[float]]:
    """A respx side effect answering ``answer(n)`` to the n-th request; the start times."""
    starts: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        n = len(starts)
        starts.append(clock.elapsed())
        result = answer(n)
        response: httpx.Response = result if isinstance(result, httpx.Response) else await result
        return response

    return handler, starts


@pytest.mark.asyncio
async def test_429_retry_after_pauses_every_concurrent_request(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    def answer(n: int) -> httpx.Response:
        if n == 0:
            return error(429, "Rate limit is exceeded.", headers={"Retry-After": "7"})
        return ok_status()

    handler, starts = recording(vclock, answer)
    route = mock.get(CHRONO).mock(side_effect=handler)
    async with vclock.running(), client_on(vclock, rate_limit=limit(vclock)) as client:
        await client.smarther.get_status(PLANT, MODULE)  # the 429, then the retry
        assert starts == pytest.approx([0.0, 7.0])

    # The same with four others already waiting in the limiter when the 429 comes back.
    vclock2 = VirtualClock()
    handler, starts = recording(vclock2, answer)
    route.side_effect = handler
    rate = limit(vclock2, per_second=1)  # the first request is alone in its second
    async with vclock2.running(), client_on(vclock2, rate_limit=rate) as client:
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(client.smarther.get_status, PLANT, MODULE)
        assert client.stats.statuses == {429: 1, 200: 5}
    # The waiters go at 7, 8, 9, 10 (one a second) and the retry of the first at 11.
    assert starts == pytest.approx([0.0, 7.0, 8.0, 9.0, 10.0, 11.0])


@pytest.mark.asyncio
async def test_429_pauses_requests_waiting_for_a_concurrency_slot(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    handler, starts = recording(
        vclock,
        lambda n: (
            error(429, "Rate limit is exceeded.", headers={"Retry-After": "7"})
            if n == 0
            else ok_status()
        ),
    )
    mock.get(CHRONO).mock(side_effect=handler)
    rate = limit(vclock, max_concurrency=1)  # the first request is alone on the wire
    async with (
        vclock.running(),
        client_on(vclock, rate_limit=rate) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(5):
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
    # Today: [0.0, 0.0, 7.0, 7.0, 7.0, 7.0]: the second request goes right after the 429.
    assert starts[0] == 0.0
    assert all(t >= 7.0 for t in starts[1:]), starts


@pytest.mark.asyncio
async def test_429_pauses_requests_of_other_callers(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    """Callers that start after the 429 (but before its retry) wait for the pause too."""

    def answer(n: int) -> httpx.Response:
        if n == 0:
            return error(429, "Rate limit is exceeded. Try again in 7 seconds.")
        return ok_status()

    handler, starts = recording(vclock, answer)
    mock.get(CHRONO).mock(side_effect=handler)
    async with vclock.running(), client_on(vclock, rate_limit=limit(vclock)) as client:

        async def later(delay: float) -> None:
            await vclock.sleep(delay)
            await client.smarther.get_status(PLANT, MODULE)

        async with anyio.create_task_group() as group:
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
            for delay in (0.5, 1, 3, 6.5):
                group.start_soon(later, delay)
        quota = client.quota
    assert starts[0] == 0.0
    assert sorted(starts[1:]) == pytest.approx([7.0] * 5)
    assert quota is not None
    assert quota.paused_until is None


@pytest.mark.asyncio
async def test_without_a_limiter_other_callers_do_not_wait(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    """The control of the test above: without a limiter, only the retry waits."""
    handler, starts = recording(
        vclock,
        lambda n: (
            error(429, "Rate limit is exceeded.", headers={"Retry-After": "7"})
            if n == 0
            else ok_status()
        ),
    )
    mock.get(CHRONO).mock(side_effect=handler)
    async with vclock.running(), client_on(vclock, rate_limit=None) as client:

        async def later(delay: float) -> None:
            await vclock.sleep(delay)
            await client.smarther.get_status(PLANT, MODULE)

        async with anyio.create_task_group() as group:
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
            for delay in (0.5, 1, 3):
                group.start_soon(later, delay)
    assert starts == pytest.approx([0.0, 0.5, 1.0, 3.0, 7.0])


@pytest.mark.asyncio
async def test_403_quota_raises_and_later_calls_fail_locally(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(return_value=error(403, QUOTA_TEXT))
    async with client_on(vclock, rate_limit=RateLimit.starter_kit()) as client:
        with pytest.raises(QuotaExhausted) as info:
            await client.smarther.get_status(PLANT, MODULE)
        resets = NOON + timedelta(hours=1, minutes=2, seconds=3)
        assert info.value.resets_at == resets
        assert is_utc(info.value.resets_at)
        assert info.value.status_code == 403
        assert route.call_count == 1  # a 403 is not retried
        quota = client.quota
        assert quota is not None
        assert (quota.used_today, quota.remaining_today, quota.resets_at) == (1, 0, resets)

        vclock.advance(60)
        with pytest.raises(QuotaExhausted) as local:
            await client.smarther.get_status(PLANT, MODULE)
        assert local.value.resets_at == resets
        # Failed fast by the limiter, but the gateway's word: the same class as its 403.
        assert type(local.value) is type(info.value) is ServerQuotaExhausted
        assert isinstance(local.value, Forbidden)
        assert local.value.status_code == 403
        assert local.value.attempts == 0
        assert route.call_count == 1  # no request went out
    assert vclock.sleeps == []


@pytest.mark.asyncio
async def test_a_403_survives_a_restart_through_the_store(
    vclock: VirtualClock, mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = mock.get(CHRONO).mock(return_value=error(403, QUOTA_TEXT))
    path = tmp_path / "today.json"
    rate = RateLimit(store=FileQuotaStore(path))
    async with client_on(vclock, rate_limit=rate) as client:
        with pytest.raises(QuotaExhausted):
            await client.smarther.get_status(PLANT, MODULE)
    resets = NOON + timedelta(hours=1, minutes=2, seconds=3)
    # A restart: a new client on the same file knows at once, and sends nothing.
    async with client_on(vclock, rate_limit=RateLimit(store=FileQuotaStore(path))) as client:
        quota = client.quota
        assert quota is not None
        assert (quota.used_today, quota.remaining_today, quota.resets_at) == (1, 0, resets)
        with pytest.raises(QuotaExhausted) as info:
            await client.smarther.get_status(PLANT, MODULE)
        assert info.value.resets_at == resets
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_client_quota_shows_the_stored_count_once_entered(
    vclock: VirtualClock, tmp_path: Path
) -> None:
    path = tmp_path / "today.json"
    path.write_text(json.dumps({"day": "2026-11-21T00:00:00+00:00", "used": 120}))
    async with client_on(vclock, rate_limit=RateLimit(store=FileQuotaStore(path))) as client:
        quota = client.quota
        assert quota is not None
        assert (quota.used_today, quota.remaining_today) == (120, 380)


@pytest.mark.asyncio
async def test_403_quota_in_the_home_control_errors_format(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    body = {"errors": [{"userMessage": QUOTA_TEXT, "internalMessage": "quota", "code": 403}]}
    route = mock.get(CHRONO).respond(403, json=body)
    async with client_on(vclock, rate_limit=RateLimit()) as client:
        with pytest.raises(QuotaExhausted):
            await client.smarther.get_status(PLANT, MODULE)
        with pytest.raises(QuotaExhausted):
            await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_other_403_does_not_touch_the_quota(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(return_value=error(403, "Operation forbidden"))
    async with client_on(vclock, rate_limit=RateLimit()) as client:
        for _ in range(2):
            with pytest.raises(Forbidden):
                await client.smarther.get_status(PLANT, MODULE)
        quota = client.quota
    assert route.call_count == 2
    assert quota is not None
    assert (quota.used_today, quota.remaining_today) == (2, 498)


@pytest.mark.asyncio
async def test_default_client_has_a_limiter_of_its_own(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    mock.get(CHRONO).mock(side_effect=ok_status)
    first = LegrandClient(KEY, access_token=TOKEN, transport=wire(), clock=vclock)
    second = LegrandClient(KEY, access_token=TOKEN, transport=wire(), clock=vclock)
    async with first, second:
        assert isinstance(first.rate_limit, RateLimit)
        assert isinstance(second.rate_limit, RateLimit)
        assert first.rate_limit is not second.rate_limit
        assert (first.rate_limit.per_second, first.rate_limit.per_day) == (None, 500)
        assert first.rate_limit.clock is vclock
        assert first.quota is not None
        assert first.quota.remaining_today == 500
        assert first.quota.used_today == 0
        await first.smarther.get_status(PLANT, MODULE)
        assert first.quota.remaining_today == 499
        assert first.quota.used_today == 1
        assert second.quota is not None
        assert second.quota.remaining_today == 500  # nothing shared
        assert is_utc(first.quota.resets_at)
        assert first.quota.resets_at == datetime(2026, 11, 22, tzinfo=UTC)


@pytest.mark.asyncio
async def test_clients_given_one_rate_limit_share_it(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(side_effect=ok_status)
    shared = RateLimit(per_day=3)
    async with (
        client_on(vclock, rate_limit=shared) as first,
        client_on(vclock, rate_limit=shared) as second,
    ):
        assert first.rate_limit is second.rate_limit is shared
        await first.smarther.get_status(PLANT, MODULE)
        await second.smarther.get_status(PLANT, MODULE)
        await first.smarther.get_status(PLANT, MODULE)
        assert first.quota == second.quota
        assert first.quota is not None
        assert (first.quota.used_today, first.quota.remaining_today) == (3, 0)
        with pytest.raises(QuotaExhausted):
            await second.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 3


@pytest.mark.asyncio
async def test_shared_limiter_shares_the_per_second_window(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    handler, starts = recording(vclock, lambda n: ok_status())
    mock.get(CHRONO).mock(side_effect=handler)
    shared = limit(vclock, per_second=2)
    async with (
        vclock.running(),
        client_on(vclock, rate_limit=shared) as first,
        client_on(vclock, rate_limit=shared) as second,
        anyio.create_task_group() as group,
    ):
        for client in (first, second, first, second, first, second):
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
    assert starts == pytest.approx([0, 0, 1, 1, 2, 2])


@pytest.mark.asyncio
async def test_rate_limit_none_turns_limiting_off(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(side_effect=ok_status)
    async with client_on(vclock, rate_limit=None) as client:
        assert client.rate_limit is None
        assert client.quota is None
        for _ in range(3):
            await client.smarther.get_status(PLANT, MODULE)
        assert client.quota is None
    assert route.call_count == 3


def test_rate_limit_must_be_a_rate_limit() -> None:
    with pytest.raises(TypeError, match="rate_limit"):
        LegrandClient(KEY, access_token=TOKEN, rate_limit=500)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_max_concurrency_caps_requests_in_flight(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await vclock.sleep(1)
        finally:
            in_flight -= 1
        return ok_status()

    route = mock.get(CHRONO).mock(side_effect=slow)
    rate = limit(vclock, max_concurrency=2)
    async with (
        vclock.running(),
        client_on(vclock, rate_limit=rate) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(7):
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
    assert peak == 2
    assert route.call_count == 7
    assert vclock.elapsed() == pytest.approx(4.0)  # ceil(7 / 2) rounds of one second


@pytest.mark.asyncio
async def test_without_max_concurrency_nothing_caps_requests_in_flight(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await vclock.sleep(1)
        in_flight -= 1
        return ok_status()

    mock.get(CHRONO).mock(side_effect=slow)
    async with (
        vclock.running(),
        client_on(vclock, rate_limit=limit(vclock)) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(7):
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
    assert peak == 7


@pytest.mark.asyncio
async def test_max_concurrency_does_not_make_bursts(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    async def answer(n: int) -> httpx.Response:
        if n < 2:
            await vclock.sleep(5)  # the first two are slow
        return ok_status()

    handler, starts = recording(vclock, answer)
    mock.get(CHRONO).mock(side_effect=handler)
    rate = limit(vclock, per_second=2, max_concurrency=2)
    async with (
        vclock.running(),
        client_on(vclock, rate_limit=rate) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(8):
            group.start_soon(client.smarther.get_status, PLANT, MODULE)
    # Today: [0, 0, 5, 5, 5, 5, 5, 5]: six requests within the same instant.
    for t in starts:
        assert len([s for s in starts if t <= s < t + 1]) <= 2, starts


@pytest.mark.asyncio
async def test_every_retry_attempt_counts(vclock: VirtualClock, mock: respx.MockRouter) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503, "busy"), ok_status()])
    async with client_on(vclock, rate_limit=RateLimit()) as client:
        await client.smarther.get_status(PLANT, MODULE)
        quota = client.quota
    assert route.call_count == 2
    assert quota is not None
    assert (quota.used_today, quota.remaining_today) == (2, 498)


@pytest.mark.asyncio
async def test_retries_stop_when_the_day_runs_out(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(return_value=error(503, "busy"))
    async with client_on(vclock, rate_limit=RateLimit(per_day=2)) as client:
        with pytest.raises(QuotaExhausted):
            await client.smarther.get_status(PLANT, MODULE)  # 503, 503, then no third attempt
    assert route.call_count == 2


@pytest.mark.asyncio
async def test_a_long_local_wait_raises_before_any_request(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(side_effect=ok_status)
    rate = limit(vclock, per_second=1, max_wait=0.5)
    async with client_on(vclock, rate_limit=rate, retry=RetryPolicy(max_attempts=1)) as client:
        await client.smarther.get_status(PLANT, MODULE)
        with pytest.raises(QuotaExhausted) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.resets_at == NOON + timedelta(seconds=1)
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_calls_refused_by_the_limiter_are_not_attempts(
    vclock: VirtualClock, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(side_effect=ok_status)
    async with client_on(vclock, rate_limit=RateLimit(per_day=1)) as client:
        await client.smarther.get_status(PLANT, MODULE)
        with pytest.raises(QuotaExhausted):
            await client.smarther.get_status(PLANT, MODULE)
        stats = client.stats
    assert route.call_count == 1
    assert stats.statuses == {200: 1}
    assert stats.attempts == 1  # today: 2


# --------------------------------------------------------------------------------------------
# Under trio
# --------------------------------------------------------------------------------------------


def test_the_limiter_runs_under_trio() -> None:
    """The same per-second timings, FIFO and a pause, with trio as the event loop."""
    clock = VirtualClock()
    rate = RateLimit(per_second=2, per_day=None, clock=clock, max_concurrency=1)  # no loop yet
    results: dict[str, Any] = {}

    async def main() -> None:
        assert sniffio.current_async_library() == "trio"
        async with clock.running():
            results["sequential"] = await timed_acquires(clock, rate, 3)
            served: list[int] = []

            async def call(index: int) -> None:
                await rate.acquire()
                async with rate.in_flight():
                    served.append(index)
                    await clock.sleep(0)

            async with anyio.create_task_group() as group:
                for index in range(6):
                    group.start_soon(call, index)
                    await anyio.lowlevel.checkpoint()
            results["served"] = served
            results["after_fifo"] = clock.elapsed()
            rate.pause(5)
            before = clock.elapsed()
            await rate.acquire()
            results["paused"] = clock.elapsed() - before
        daily = RateLimit(per_day=1, clock=clock)
        await daily.acquire()
        with pytest.raises(QuotaExhausted):
            await daily.acquire()

    anyio.run(main, backend="trio")
    assert results["sequential"] == pytest.approx([0.0, 0.0, 1.0])
    assert results["served"] == list(range(6))
    assert results["after_fifo"] == pytest.approx(4.0)  # 1 (from before) + 3 pairs
    assert results["paused"] == pytest.approx(5.0)


def test_a_limiter_made_inside_trio() -> None:
    async def main() -> list[float]:
        clock = VirtualClock()
        rate = RateLimit(per_second=2, per_day=3, clock=clock)
        async with clock.running():
            times = await timed_acquires(clock, rate, 3)
            with pytest.raises(QuotaExhausted):
                await rate.acquire()
        return times

    assert anyio.run(main, backend="trio") == pytest.approx([0.0, 0.0, 1.0])


@pytest.mark.asyncio
async def test_the_limiter_raises_the_servers_quota_answer_only_for_the_mark_it_made() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    limit = RateLimit(per_day=None, clock=clock)
    until = datetime(2026, 3, 2, tzinfo=UTC)
    answer = ServerQuotaExhausted(
        "Out of call volume quota.",
        status_code=429,
        code="Q",
        request_id="rid-1",
        body={"message": "Out of call volume quota."},
        retry_after=5.0,
        resets_at=until,
    )
    limit.exhaust(until, answer=answer)
    with pytest.raises(ServerQuotaExhausted) as info:
        await limit.acquire()
    error = info.value
    assert error is not answer
    assert (error.status_code, error.code, error.request_id, error.body) == (
        429,
        "Q",
        "rid-1",
        {"message": "Out of call volume quota."},
    )
    assert (error.attempts, error.retry_after, error.resets_at) == (0, 5.0, until)
    assert "as the gateway said (Out of call volume quota.)" in str(error)

    later = datetime(2026, 3, 2, 6, tzinfo=UTC)
    limit.exhaust(later)  # a later word without an answer: a bare 403 now
    with pytest.raises(ServerQuotaExhausted) as info:
        await limit.acquire()
    assert (info.value.status_code, info.value.body, info.value.resets_at) == (403, None, later)
