"""The quota: per-second and per-day windows, a pause on 429, a fail-fast on long waits.

Built on anyio primitives only, so it runs under asyncio and trio. ``RateLimit`` is the limiter
itself: clients given the same object share one budget (same subscription key and user).
"""

from __future__ import annotations

import inspect
import json
import math
import weakref
from collections import deque
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.to_thread
import attrs
import httpx

from .._clock import Clock, SystemClock
from .._files import write_private
from .._responses import error_from_response
from ..errors import QuotaExhausted, ServerQuotaExhausted
from .classify import CLASSIFICATION, Classification, Kind

__all__ = ["FileQuotaStore", "Quota", "QuotaStore", "RateLimit", "RateLimitTransport"]



@attrs.frozen
class Quota:
    """A snapshot of the quota: calls spent and left today, when the day resets, any pause."""

    used_today: int
    remaining_today: int | None
    resets_at: datetime
    paused_until: datetime | None
    per_second: float | None
    per_day: int | None


Stored = tuple[datetime, int] | tuple[datetime, int, datetime | None]


@runtime_checkable
class QuotaStore(Protocol):
    """Keeps today's count across restarts.

    A store that also keeps the server's "quota spent until" (a 403) returns it as a third item
    of ``load()`` and takes it as ``save(..., exhausted_until=...)``; :class:`FileQuotaStore` does.
    """

    async def load(self) -> Stored | None:
        """``(start of the day window, calls used in it[, spent until])``, or None."""
        ...

    async def save(self, day: datetime, used: int) -> None:
        """Record the count of the window that started at ``day``."""
        ...


class FileQuotaStore:
    """Today's count in a small JSON file (written atomically, mode 0600)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def load(self) -> Stored | None:
        def read() -> Stored | None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                day, used = datetime.fromisoformat(data["day"]), int(data["used"])
                if data.get("exhausted_until") is None:
                    return day, used
                return day, used, datetime.fromisoformat(data["exhausted_until"])
            except FileNotFoundError:
                return None
            except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
                return None  # a broken count is not worth failing calls for: start afresh

        return await anyio.to_thread.run_sync(read)

    async def save(
        self, day: datetime, used: int, *, exhausted_until: datetime | None = None
    ) -> None:
        record: dict[str, object] = {"day": day.isoformat(), "used": used}
        if exhausted_until is not None:
            record["exhausted_until"] = exhausted_until.isoformat()
        await anyio.to_thread.run_sync(write_private, self.path, json.dumps(record).encode())

    def __repr__(self) -> str:
        return f"FileQuotaStore({str(self.path)!r})"


def _accepts_exhaustion(store: QuotaStore) -> bool:
    try:
        return "exhausted_until" in inspect.signature(store.save).parameters
    except (TypeError, ValueError):  # no signature to read: save the count only
        return False


class RateLimit:
    """Per-second and per-day limits, checked together and spent together, first come first served.

    - ``per_second``: calls started in any one-second window; ``per_day``: calls per day, the day
      starting at ``day_resets_at`` (an aware time; default midnight UTC, as the gateway's quota
      is not documented to follow a zone);
    - a wait longer than ``max_wait`` seconds raises :class:`QuotaExhausted` at once;
    - ``max_concurrency`` caps requests in flight;
    - a 429 pauses every request for the server's ``Retry-After``; a 403 "Out of call volume quota"
      marks the day spent until "replenished in hh:mm:ss";
    - ``store`` keeps today's count (and a 403's "spent until") across restarts; a client reads
      it when entered (``async with``), or :meth:`load` does.

    Every attempt on the wire counts (the limiter sits inside the retry loop). Give several
    clients the same object to share one budget.
    """

    def __init__(
        self,
        per_second: float | None = None,
        per_day: int | None = 500,
        max_wait: float = 60.0,
        max_concurrency: int | None = None,
        day_resets_at: time = time(0, 0, tzinfo=UTC),
        *,
        store: QuotaStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        if per_second is not None and not per_second > 0:
            raise ValueError(f"per_second must be > 0 or None, got {per_second!r}")
        if per_day is not None and (isinstance(per_day, bool) or per_day < 1):
            raise ValueError(f"per_day must be >= 1 or None, got {per_day!r}")
        if not max_wait >= 0:
            raise ValueError(f"max_wait must be >= 0, got {max_wait!r}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1 or None, got {max_concurrency!r}")
        if day_resets_at.tzinfo is None:
            raise ValueError("day_resets_at must be an aware time, e.g. time(0, tzinfo=UTC)")
        self.per_second = per_second
        self.per_day = per_day
        self.max_wait = max_wait
        self.max_concurrency = max_concurrency
        self.day_resets_at = day_resets_at
        self.store = store
        self.clock: Clock | None = clock
        self._lock = anyio.Lock()
        self._slots = anyio.CapacityLimiter(max_concurrency) if max_concurrency else None
        self._starts: deque[float] = deque()
        self._day: datetime | None = None
        self._used = 0
        self._paused_until = 0.0  # monotonic
        self._exhausted_until: datetime | None = None
        self._loaded = store is None
        self._store_keeps_exhaustion = store is not None and _accepts_exhaustion(store)

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
        """The limiter's clock's time (aware UTC)."""
        return self._now_clock.now()

    @property
    def _now_clock(self) -> Clock:
        if self.clock is None:
            self.clock = SystemClock()
        return self.clock

    def window_start(self, now: datetime) -> datetime:
        """When the daily window containing ``now`` began (aware UTC)."""
        zone = self.day_resets_at.tzinfo
        local = now.astimezone(zone)
        start = datetime.combine(local.date(), self.day_resets_at.replace(tzinfo=None), zone)
        if start > local:
            start -= timedelta(days=1)
        return start.astimezone(UTC)

    def _next_reset(self, now: datetime) -> datetime:
        """When the daily window containing ``now`` ends (aware UTC, right across DST)."""
        zone = self.day_resets_at.tzinfo
        start = self.window_start(now).astimezone(zone)
        end = datetime.combine(
            start.date() + timedelta(days=1), self.day_resets_at.replace(tzinfo=None), zone
        )
        return end.astimezone(UTC)

    def _roll(self, now: datetime) -> datetime:
        """Start a new day when the window moved on; the current window start."""
        start = self.window_start(now)
        if self._day != start:
            self._day, self._used = start, 0
            if self._exhausted_until is not None and self._exhausted_until <= now:
                self._exhausted_until = None
        return start

    def snapshot(self) -> Quota:
        """The quota now."""
        clock = self._now_clock
        now = clock.now()
        self._roll(now)
        if self._exhausted_until is not None and self._exhausted_until <= now:
            self._exhausted_until = None  # the server's reset time has come
        resets_at = self._exhausted_until or self._next_reset(now)
        pause = self._paused_until - clock.monotonic()
        remaining = None if self.per_day is None else max(0, self.per_day - self._used)
        if self._exhausted_until is not None and self._exhausted_until > now:
            remaining = 0
        return Quota(
            used_today=self._used,
            remaining_today=remaining,
            resets_at=resets_at,
            paused_until=now + timedelta(seconds=pause) if pause > 0 else None,
            per_second=self.per_second,
            per_day=self.per_day,
        )

    async def acquire(self) -> None:
        """Wait for a slot in every window and spend it; QuotaExhausted if the wait is too long."""
        clock = self._now_clock
        deadline = clock.monotonic() + self.max_wait  # bounds the whole wait, queue included
        async with self._lock:  # FIFO: waiters are served in the order they came
            if not self._loaded:
                await self._load()
            while True:
                now, mono = clock.now(), clock.monotonic()
                self._roll(now)
                if self._exhausted_until is not None:
                    if self._exhausted_until > now:
                        raise self._exhausted(self._exhausted_until)
                    self._exhausted_until = None
                if self.per_day is not None and self._used >= self.per_day:
                    raise self._exhausted(self._next_reset(now))
                wait = max(0.0, self._paused_until - mono)
                if self.per_second is not None:
                    # N calls a second, or one call every 1/per_second seconds below one.
                    allowed = max(1, math.floor(self.per_second))
                    window = 1.0 if self.per_second >= 1 else 1.0 / self.per_second
                    while self._starts and self._starts[0] <= mono - window:
                        self._starts.popleft()
                    if len(self._starts) >= allowed:
                        wait = max(wait, self._starts[0] + window - mono)
                if wait <= 0:
                    break
                if mono + wait > deadline:
                    raise self._exhausted(now + timedelta(seconds=wait))
                await clock.sleep(wait)
            if self.per_second is not None:
                self._starts.append(mono)
            self._used += 1
            await self.save()

    def _exhausted(self, resets_at: datetime) -> QuotaExhausted:
        return QuotaExhausted(
            f"call quota exhausted until {resets_at.isoformat(timespec='seconds')} "
            f"({self._used} of {self.per_day or 'unlimited'} calls used today)",
            resets_at=resets_at.astimezone(UTC),
        )

    async def load(self) -> None:
        """Read the store, once: today's count and any "spent until" it kept."""
        if not self._loaded:
            async with self._lock:
                if not self._loaded:
                    await self._load()

    async def _load(self) -> None:
        assert self.store is not None
        stored = await self.store.load()
        self._loaded = True
        if stored is None:
            return
        now = self._now_clock.now()
        if stored[0] == self.window_start(now):
            self._day, self._used = stored[0], max(self._used, stored[1])
        until = stored[2] if len(stored) > 2 else None
        if until is not None and until > now:
            self._exhausted_until = until.astimezone(UTC)

    async def save(self) -> None:
        """Write today's count (and a 403's "spent until", if the store keeps it) to the store."""
        store: Any = self.store  # save() may take exhausted_until, which QuotaStore leaves out
        if store is None or self._day is None:
            return
        if self._store_keeps_exhaustion and self._exhausted_until is not None:
            await store.save(self._day, self._used, exhausted_until=self._exhausted_until)
        else:
            await store.save(self._day, self._used)

    def in_flight(self) -> AbstractAsyncContextManager[object]:
        """A slot among the ``max_concurrency`` requests in flight (none needed without a cap)."""
        return self._slots if self._slots is not None else nullcontext()

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (the server's 429 says so)."""
        until = self._now_clock.monotonic() + seconds
        self._paused_until = max(self._paused_until, until)

    def exhaust(self, resets_at: datetime | None) -> None:
        """The server says the day's quota is spent (403): fail fast until ``resets_at``."""
        now = self._now_clock.now()
        self._roll(now)
        if resets_at is not None and resets_at.tzinfo is None:
            resets_at = resets_at.replace(tzinfo=UTC)
        self._exhausted_until = (resets_at or self._next_reset(now)).astimezone(UTC)

    def __repr__(self) -> str:
        return (
            f"RateLimit(per_second={self.per_second!r}, per_day={self.per_day!r}, "
            f"max_wait={self.max_wait!r}, max_concurrency={self.max_concurrency!r})"
        )


class RateLimitTransport(httpx.AsyncBaseTransport):
    """Spends the limiter on every attempt and listens to the gateway's 429 and quota answers.

    It reads each response's classification (no body parsing here): a quota answer marks the
    day spent (:meth:`RateLimit.exhaust`), a 429's wait pauses every request through the limiter
    (:meth:`RateLimit.pause`), capped at ``max_pause`` like the retry wait. While the day is
    spent by the gateway's word, calls fail fast with the same :class:`ServerQuotaExhausted` as
    the answer that said it, in every client sharing the limiter.
    """

    def __init__(
        self, wrapped: httpx.AsyncBaseTransport, limit: RateLimit, *, max_pause: float
    ) -> None:
        self._wrapped = wrapped
        self._limit = limit
        self._max_pause = max_pause

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limit = self._limit
        async with limit.in_flight():  # a slot first, so waiting for one never makes a burst
            try:
                await limit.acquire()
            except QuotaExhausted as exc:
                raise _as_server_answer(limit, exc) from None
            response = await self._wrapped.handle_async_request(request)
        record: Classification = response.extensions[CLASSIFICATION]
        if record.kind is Kind.QUOTA:
            limit.exhaust(record.quota_until)
            _QUOTA_ANSWERS[limit] = (limit.snapshot().resets_at, response)
            try:
                await limit.save()  # a restart must not spend a call to learn it again
            except BaseException:
                await response.aclose()
                raise
        elif record.status == 429 and record.retry_after is not None:
            limit.pause(min(record.retry_after, self._max_pause))
        return response

    async def aclose(self) -> None:
        await self._wrapped.aclose()


#: The gateway's last quota answer per limiter, and until when it holds.
_QUOTA_ANSWERS: weakref.WeakKeyDictionary[RateLimit, tuple[datetime, httpx.Response]] = (
    weakref.WeakKeyDictionary()
)


def _as_server_answer(limit: RateLimit, exc: QuotaExhausted) -> QuotaExhausted:
    """``exc`` as the gateway's ServerQuotaExhausted when the gateway's quota answer is why.

    That answer is known when it passed through this process; after a restart the limiter
    only has its "spent until" (from its store): the day shows no call left although the local
    count is not spent, which only the gateway's answer does.
    """
    until = exc.resets_at
    known = _QUOTA_ANSWERS.get(limit)
    if known is not None and until == known[0]:
        error = error_from_response(known[1], now=limit.now(), attempts=0)  # nothing was sent
        assert isinstance(error, ServerQuotaExhausted)
        said = f"as the gateway said ({error.message})"
    else:
        quota = limit.snapshot()
        local = quota.per_day is not None and quota.used_today >= quota.per_day
        if until is None or quota.remaining_today != 0 or local or quota.resets_at != until:
            return exc  # the local count, or a wait longer than max_wait
        error = ServerQuotaExhausted("", status_code=403, resets_at=until, attempts=0)
        said = "as the gateway said before this process started"
    error.message = f"call quota spent until {until.isoformat(timespec='seconds')}, {said}"
    error.args = (error.message,)
    return error
