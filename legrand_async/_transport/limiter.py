"""The limiter: per-second and per-day windows, a pause on 429, a fail-fast on long waits.

Built on anyio primitives only, so it runs under asyncio and trio. Clients given the same
:class:`RateLimit` share one budget (same subscription key and user). The daily count is kept in
:mod:`.day_count`, its store is written behind by :class:`.quota_sync.QuotaSync`.
"""

from __future__ import annotations

import math
from collections import deque
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from datetime import UTC, datetime, time
from typing import ClassVar

import anyio
import attrs

from .. import _checks
from .._clock import Clock, SystemClock
from ..errors import QuotaExhausted, QuotaStoreUnavailable, ServerQuotaExhausted
from .day_count import MAX_EXHAUSTION, Charge, DayCount
from .day_window import later, utc, window_start
from .deciding import DecidingQuotaStore, Verdict
from .limit_checks import clock_like, reset_time, spent
from .quota_store import QuotaStore
from .quota_sync import QuotaSync
from .shared_limit import SharedDecisions

__all__ = ["MAX_EXHAUSTION", "MAX_PAUSE", "Quota", "RateLimit", "Taken"]

#: The longest a 429 pauses the limiter, whatever ``Retry-After`` says (seconds): a 429 is the
#: gateway's short-term limit; a spent day is a 403.
MAX_PAUSE = 3600.0


@attrs.frozen
class Quota:
    """A snapshot of the quota: calls spent and left today, when the day resets, any pause."""

    used_today: int
    remaining_today: int | None
    resets_at: datetime
    paused_until: datetime | None
    per_second: float | None
    per_day: int | None


@attrs.frozen
class Taken:
    """A slot one acquire took: what giving it back undoes."""

    charge: Charge
    mono: float
    pace: tuple[int, int] | None = None


class RateLimit:
    """Per-second and per-day limits, checked together and spent together, first come first served.

    - ``per_second``: calls started in any one-second window; ``per_day``: calls per day, the day
      starting at ``day_resets_at`` (an aware time; default midnight UTC, as the gateway's quota
      is not documented to follow a zone); the day never goes backwards (a clock stepping back
      stays in the newest day seen), and a DST night has exactly one reset;
    - a wait longer than ``max_wait`` seconds raises :class:`QuotaExhausted` at once;
    - ``max_concurrency`` caps requests in flight;
    - a 429 pauses every request for the server's ``Retry-After`` (at most :data:`MAX_PAUSE`); a
      403 "Out of call volume quota" marks the day spent until "replenished in hh:mm:ss",
      and every acquire then raises that answer's :class:`ServerQuotaExhausted` (attempts 0);
    - ``store`` keeps today's count (and a 403's "spent until") across restarts, written behind
      by the first call ``flush_delay`` seconds after the last write, at once after a 403 or
      429 (and, if that write failed, by the next call, even one refused), and by :meth:`flush`
      (which a client's ``aclose`` calls).
      A store that fails never fails a call: the count lives on in memory, the failure is
      logged and kept in :attr:`store_error`;
    - a *deciding* store (``RedisQuotaStore``, ``FileQuotaStore(path, shared=True)``) decides
      every acquire itself, atomically, for every process and host that names it: the pace
      (calls start at least ``1/per_second`` apart, on the store's clock), the daily count,
      the 429 pause and the 403 mark are the store's. When it fails, calls raise
      :class:`~legrand_async.QuotaStoreUnavailable`, or, for a store made with
      ``when_unavailable="memory"``, are decided here meanwhile (and counted there once back).

    Every attempt on the wire counts (the limiter sits inside the retry loop); a call cancelled
    before it is handed to the wire is not counted. Give several clients the same object to
    share one budget.
    """

    #: The longest a 429 pauses the limiter (seconds).
    MAX_PAUSE: ClassVar[float] = MAX_PAUSE
    #: The longest a 403 marks the quota spent (seconds).
    MAX_EXHAUSTION: ClassVar[float] = MAX_EXHAUSTION

    def __init__(
        self,
        per_second: float | None = None,
        per_day: int | None = 500,
        max_wait: float = 60.0,
        max_concurrency: int | None = None,
        day_resets_at: time = time(0, 0, tzinfo=UTC),
        *,
        store: QuotaStore | DecidingQuotaStore | None = None,
        clock: Clock | None = None,
        flush_delay: float = 1.0,
    ) -> None:
        if per_second is not None:
            per_second = _checks.positive("per_second", per_second)
        if per_day is not None:
            _checks.count("per_day", per_day)
        max_wait = _checks.non_negative("max_wait", max_wait)
        if max_concurrency is not None:
            _checks.count("max_concurrency", max_concurrency)
        reset_time(day_resets_at)
        flush_delay = _checks.non_negative("flush_delay", flush_delay)
        deciding = isinstance(store, DecidingQuotaStore)
        if store is not None and not deciding and not isinstance(store, QuotaStore):
            raise TypeError(f"store must be a QuotaStore (load and save), got {store!r}")
        if clock is not None:
            clock_like(clock)
        self.per_second = per_second
        self.per_day = per_day
        self.max_wait = max_wait
        self.max_concurrency = max_concurrency
        self.day_resets_at = day_resets_at
        self.store = store
        self.flush_delay = flush_delay
        self.clock: Clock | None = clock
        self._lock = anyio.Lock()
        self._slots = anyio.CapacityLimiter(max_concurrency) if max_concurrency else None
        self._starts: deque[float] = deque()
        self._days = DayCount(day_resets_at)
        self._paused_until = 0.0  # monotonic
        self._answer: tuple[datetime | None, ServerQuotaExhausted] | None = None  # until, error
        self._shared: SharedDecisions | None = None
        self._sync: QuotaSync | None = None
        if isinstance(store, DecidingQuotaStore):
            self._shared = SharedDecisions(
                store, self._days, per_day=per_day, per_second=per_second
            )
        elif store is not None:
            self._sync = QuotaSync(store, self._days, self.now, self._monotonic, flush_delay)

    @classmethod
    def starter_kit(cls) -> RateLimit:
        """The Starter Kit subscription: 500 calls a day per user (the default of every client).

        The gateway's short-term rate is not documented, so no per-second pace is assumed; a
        429 still pauses every request for the wait the server asks.
        """
        return cls(per_second=None, per_day=500)

    def bind(self, clock: Clock) -> None:
        """Use ``clock`` unless the limiter already has one (the first client's wins)."""
        if self.clock is None:
            self.clock = clock

    def now(self) -> datetime:
        """The limiter's clock's time, in UTC (a naive time from the clock is read as UTC)."""
        return utc(self._now_clock.now())

    def _monotonic(self) -> float:
        return self._now_clock.monotonic()

    @property
    def _now_clock(self) -> Clock:
        if self.clock is None:
            self.clock = SystemClock()
        return self.clock

    @property
    def store_error(self) -> Exception | None:
        """The store's last failure (load or save), None while it works (or without a store)."""
        if self._shared is not None:
            return self._shared.error
        return self._sync.error if self._sync is not None else None

    def window_start(self, now: datetime) -> datetime:
        """When the daily window containing ``now`` began (aware UTC)."""
        return window_start(self.day_resets_at, now)

    def snapshot(self) -> Quota:
        """The quota now (never raises, whatever the clock or the server said)."""
        clock = self._now_clock
        now = self.now()
        shown = self._days.shown(now)
        spent_until = self._days.spent_until(now)
        used = self._days.used_in(shown)
        remaining = None if self.per_day is None else max(0, self.per_day - used)
        full_until = self._days.full_until(shown, self.per_day) if self.per_day else None
        if spent_until is not None:
            remaining = 0
        pause = self._paused_until - clock.monotonic()
        return Quota(
            used_today=used,
            remaining_today=remaining,
            resets_at=spent_until or full_until or self._days.newest_end,
            paused_until=later(now, pause) if pause > 0 else None,
            per_second=self.per_second,
            per_day=self.per_day,
        )

    async def acquire(self) -> None:
        """Wait for a slot in every window and spend it; QuotaExhausted if the wait is too long
        (:class:`ServerQuotaExhausted` while the gateway's word holds the day spent)."""
        await self._take()

    async def _take(self) -> Taken:
        clock = self._now_clock
        deadline = clock.monotonic() + self.max_wait  # bounds the whole wait, queue included
        if self._shared is not None:
            return await self._booked(clock, deadline)
        try:
            async with self._lock:  # FIFO: waiters are served in the order they came
                if self._sync is not None and not self._sync.loaded:
                    await self._sync.load()
                mono, charge = await self._take_a_slot(clock, deadline)
        except QuotaExhausted:
            # Refused: a 403's mark is written by the calls that follow it, refused or not.
            if self._sync is not None and self._sync.due(clock.monotonic()):
                await self._sync.flush_unless_busy()
            raise
        if self._sync is not None and self._sync.due(mono):
            try:
                await self._sync.flush_unless_busy()  # outside the lock: others go on meanwhile
            except BaseException:  # cancelled before the request went out: not counted
                self._refund(charge, mono)
                raise
        return Taken(charge, mono)

    async def _booked(self, clock: Clock, deadline: float) -> Taken:
        """A slot the deciding store gives, at the start it booked: the lock is let go
        meanwhile, so the limiter's next callers book the next starts (a queue in the store
        that late wake-ups do not slow down)."""
        while True:
            async with self._lock:
                taken, wait = await self._decided(clock, deadline)
            if wait <= 0:
                return taken
            try:
                await clock.sleep(wait)
            except BaseException:  # cancelled: not sent, given back
                self._refund(taken.charge, taken.mono)
                raise
            if self._paused_until <= clock.monotonic():
                return taken
            await self._give_back(taken)  # a 429 came meanwhile: wait for its end

    async def _decided(self, clock: Clock, deadline: float) -> tuple[Taken, float]:
        """A slot the deciding store gives, and the wait to its start (the lock is held)."""
        shared = self._shared
        assert shared is not None
        while True:
            now, mono = self.now(), clock.monotonic()
            shown = self._unless_spent(now)
            wait = self._paused_until - mono  # a 429 this process heard: no need to ask
            if wait <= 0:
                # A start of the pace within a second (and the wait allowed) is booked at once.
                horizon = min(1.0, max(0.0, deadline - mono))
                decision = await shared.decide(now, horizon=horizon)
                if decision is None:  # unavailable, and asked to go on in memory
                    mono, charge = await self._take_a_slot(clock, deadline)
                    return Taken(charge, mono), 0.0
                if decision.verdict is Verdict.GRANTED:
                    charge = self._days.charge(self._days.shown(now))
                    return Taken(charge, mono, decision.pace), decision.wait
                if decision.verdict is Verdict.SPENT:
                    raise self._spent(decision.spent_until or self._days.newest_end)
                if decision.verdict is Verdict.FULL:
                    raise self._exhausted(self._days.newest_end, self._days.shown(now))
                wait = decision.wait
            if mono + wait > deadline:
                raise self._exhausted(later(now, wait), shown)
            await clock.sleep(wait)

    async def _give_back(self, taken: Taken) -> None:
        """Give back a slot whose call is not sent (another limiter of a chain refused)."""
        self._refund(taken.charge, taken.mono)
        if self._shared is not None:  # the pace slot, and the count at once (a flush)
            await self._shared.give_back(taken.pace)
            await self._shared.flush(self.now)

    async def _take_a_slot(self, clock: Clock, deadline: float) -> tuple[float, Charge]:
        while True:
            now, mono = self.now(), clock.monotonic()
            shown = self._unless_spent(now)
            if self.per_day is not None:
                full_until = self._days.full_until(shown, self.per_day)
                if full_until is not None:
                    raise self._exhausted(full_until, shown)
            wait = max(0.0, self._paused_until - mono)
            if self.per_second is not None:
                # N calls a second, or one call every 1/per_second seconds below one.
                allowed = max(1, math.floor(self.per_second))
                window = 1.0 if self.per_second >= 1 else 1.0 / self.per_second
                # The same sum as the wait below: a start leaves the window when that wait is 0.
                while self._starts and self._starts[0] + window <= mono:
                    self._starts.popleft()
                if len(self._starts) >= allowed:
                    wait = max(wait, self._starts[0] + window - mono)
            if wait <= 0:
                break
            if mono + wait > deadline:
                raise self._exhausted(later(now, wait), shown)
            await clock.sleep(wait)
        if self.per_second is not None:
            self._starts.append(mono)
        charge = self._days.charge(shown)
        self._changed()
        return mono, charge

    def _unless_spent(self, now: datetime) -> datetime:
        """The window ``now`` is in, unless the gateway said the day is spent (raised)."""
        shown = self._days.shown(now)
        spent_until = self._days.spent_until(now)
        if spent_until is not None:
            raise self._spent(spent_until)
        return shown

    def _refund(self, charge: Charge, mono: float) -> None:
        self._days.refund(charge)
        if self._shared is not None:
            self._shared.refunded(charge.newest)
        if mono in self._starts:
            self._starts.remove(mono)
        self._changed()

    def _changed(self) -> None:
        if self._sync is not None:
            self._sync.changed()

    def _exhausted(self, resets_at: datetime, shown: datetime) -> QuotaExhausted:
        return QuotaExhausted(
            f"call quota exhausted until {resets_at.isoformat(timespec='seconds')} "
            f"({self._days.used_in(shown)} of {self.per_day or 'unlimited'} calls used today)",
            resets_at=resets_at,
        )

    def _spent(self, until: datetime) -> ServerQuotaExhausted:
        """The gateway's word that the day is spent until ``until`` (see :func:`spent`)."""
        answer = self._answer
        return spent(until, answer[1] if answer is not None and answer[0] == until else None)

    async def load(self) -> None:
        """Read the store, once: today's count and any "spent until" it kept."""
        if self._shared is not None and not self._shared.loaded:
            async with self._lock:
                with suppress(QuotaStoreUnavailable):  # kept in store_error; calls say it
                    await self._shared.decide(self.now(), take=False)
            return
        if self._sync is not None and not self._sync.loaded:
            async with self._lock:
                if not self._sync.loaded:
                    await self._sync.load()

    async def flush(self) -> None:
        """Write the count (and a 403's "spent until") to the store now, if it changed.

        A no-op without a store. Never raises for the store (see :attr:`store_error`), and
        finishes the write when the task is cancelled (by anyio, trio or asyncio's own
        ``task.cancel()``), raising the cancellation after it, so that closing from a cancelled
        task keeps the count.
        """
        if self._shared is not None:
            await self._shared.flush(self.now)
        if self._sync is not None:
            await self._sync.flush()

    def in_flight(self) -> AbstractAsyncContextManager[object]:
        """A slot among the ``max_concurrency`` requests in flight (none needed without a cap)."""
        return self._slots if self._slots is not None else nullcontext()

    def pause(self, seconds: float, *, cap: float | None = None) -> None:
        """Hold every request for ``seconds`` (the server's 429 says so), at most ``cap`` and
        never more than :data:`MAX_PAUSE`; a wait that is not positive (or NaN) holds nothing."""
        _checks.number("seconds", seconds)
        ceiling = MAX_PAUSE if cap is None or not cap < MAX_PAUSE else cap
        wait = min(seconds, ceiling)
        if not wait > 0:
            return
        self._paused_until = max(self._paused_until, self._now_clock.monotonic() + wait)
        if self._shared is not None:
            self._shared.pause(wait)
        if self._sync is not None:
            self._sync.urgent()

    def exhaust(
        self, resets_at: datetime | None, *, answer: ServerQuotaExhausted | None = None
    ) -> None:
        """The server says the day's quota is spent (403): fail fast until ``resets_at`` (at most
        :data:`MAX_EXHAUSTION` seconds ahead; the end of the day window when None; a naive
        time is read as UTC). Every acquire meanwhile raises a :class:`ServerQuotaExhausted`:
        with ``answer``'s status, code, request id and body (the error the server's answer
        raised) while this mark holds."""
        if resets_at is not None and not isinstance(resets_at, datetime):
            raise TypeError(f"resets_at must be a datetime or None, got {type(resets_at).__name__}")
        if answer is not None and not isinstance(answer, ServerQuotaExhausted):
            raise TypeError(f"answer must be a ServerQuotaExhausted, got {type(answer).__name__}")
        now = self.now()
        self._days.mark_spent(resets_at, now)
        self._answer = None if answer is None else (self._days.spent_until(now), answer)
        if self._shared is not None:
            self._shared.exhaust(self._days.spent_until(now))
        self._changed()
        if self._sync is not None:
            self._sync.urgent()

    def __repr__(self) -> str:
        return (
            f"RateLimit(per_second={self.per_second!r}, per_day={self.per_day!r}, "
            f"max_wait={self.max_wait!r}, max_concurrency={self.max_concurrency!r})"
        )
