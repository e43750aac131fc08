"""Writing the daily count behind the limiter: no I/O on the way to a slot, no count lost.

A call only marks the count changed. The first call ``flush_delay`` seconds after the last
write (or right after a 403 or 429) writes it, after it has its slot and has let go of the
limiter's lock, so other callers go on meanwhile; a write already under way is not waited for.
:meth:`QuotaSync.flush` writes whatever is left (a client's ``aclose``), to the end even when
its caller is cancelled (by anyio, trio or a plain ``task.cancel()``). Writes are absolute
(the count, or this writer's calls for a :class:`SharedQuotaStore`), so one repeated after a
failure or a cancellation counts once. A store that raises, does not answer within
``STORE_TIMEOUT`` (:mod:`.._stores`) or gives back a record that is not one never fails a
call: the failure is logged at WARNING once per streak and kept in :attr:`QuotaSync.error`
(by :class:`.._stores.StoreHealth`, as ``OAuth2Auth`` does), writes are tried every
:data:`FAILING_DELAY` seconds meanwhile, and the next one that succeeds catches up.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

import anyio

from .._shield import to_the_end
from .._stores import StoreHealth, in_time
from .day_count import DayCount
from .quota_store import QuotaStore, SharedQuotaStore, Stored

__all__ = ["FAILING_DELAY", "MAX_STORED_CALLS", "QuotaSync"]

#: Seconds between two writes while the store fails (or ``flush_delay`` if longer).
FAILING_DELAY = 30.0
#: The most calls a store's record may count in one day: a thousand times any subscription's
#: quota; a larger count is a broken record (it would hold every call for the day).
MAX_STORED_CALLS = 1_000_000


def _keeps_exhaustion(store: QuotaStore) -> bool:
    try:
        return "exhausted_until" in inspect.signature(store.save).parameters
    except (TypeError, ValueError):  # no signature to read: save the count only
        return False


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _record(stored: object) -> tuple[datetime, int, datetime | None]:
    """``(day, used, spent until)`` of what a store's ``load`` gave, or TypeError/ValueError."""
    if not isinstance(stored, tuple | list) or len(stored) not in (2, 3):
        raise TypeError(
            f"load() gave {type(stored).__name__}, not (day, used[, spent until]) or None"
        )
    day, used, until = (*stored, None)[:3]
    if not _aware(day):
        raise TypeError(f"the day of a stored count must be an aware datetime, not {day!r}")
    if isinstance(used, bool) or not isinstance(used, int):
        raise TypeError(f"a stored count must be an int, not {type(used).__name__}")
    if not 0 <= used <= MAX_STORED_CALLS:
        raise ValueError(f"a stored count of {used} calls in a day is not possible")
    if until is not None and not _aware(until):
        raise TypeError(f"a stored 'spent until' must be an aware datetime, not {until!r}")
    return day, used, until


class QuotaSync:
    """A limiter's count kept in ``store``: loaded once, written behind."""

    def __init__(
        self,
        store: QuotaStore,
        days: DayCount,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        delay: float,
    ) -> None:
        self.store = store
        self.delay = delay
        self.loaded = False
        self._health = StoreHealth(
            f"quota store {type(store).__name__}",
            "the count lives on in memory and is saved again later",
        )
        self._days = days
        self._now = now
        self._monotonic = monotonic
        self._writer = uuid.uuid4().hex  # this limiter, among the writers of a shared store
        self._shared = isinstance(store, SharedQuotaStore)
        self._keeps_exhaustion = _keeps_exhaustion(store)
        self._version = self._written_version = 0
        self._written: tuple[datetime | None, int] = (None, 0)  # own calls the store holds
        self._last_write = 0.0
        self._urgent = False
        self._load_failed = False
        self._writing = anyio.Lock()

    @property
    def error(self) -> Exception | None:
        """The store's last failure, None once a write succeeds."""
        return self._health.error

    def changed(self) -> None:
        """The count (or the "spent until") changed."""
        self._version += 1

    def urgent(self) -> None:
        """Write at the next chance, without waiting for ``flush_delay`` (a 403 or 429)."""
        self._urgent = True

    @property
    def dirty(self) -> bool:
        return self._version != self._written_version

    def due(self, mono: float) -> bool:
        """Whether the call that just got its slot should write the count."""
        delay = self.delay if self.error is None else max(self.delay, FAILING_DELAY)
        return self.dirty and (self._urgent or mono - self._last_write >= delay)

    async def load(self) -> None:
        """Read the store (the caller holds the limiter's lock)."""
        await self._within_timeout("load", self._read)
        self.loaded = True
        self._last_write = self._monotonic()

    async def _read(self) -> None:
        try:
            self._adopt(await self.store.load())
        except Exception as exc:  # a store failure (or a record it should not hold) fails no call
            self._load_failed = True
            self._failed("load", exc)
            return
        self._load_failed = False

    def _adopt(self, stored: Stored | None) -> None:
        if stored is None:
            return
        day, used, until = _record(stored)
        written_day, written = self._written
        now = self._now()
        self._days.adopt(day, used, written if day == written_day else 0, now)
        self._days.adopt_spent(until, now)

    async def flush_unless_busy(self) -> None:
        """Write the count, unless another task is writing it already."""
        try:
            self._writing.acquire_nowait()
        except anyio.WouldBlock:
            return
        try:
            await self._within_timeout("save", self._write)
        finally:
            self._writing.release()

    async def flush(self) -> None:
        """Write the count if it changed, whatever cancels the caller."""
        if self.dirty:
            await to_the_end(partial(self._within_timeout, "save", self._write_when_free))

    async def _write_when_free(self) -> None:
        async with self._writing:
            if self.dirty:
                await self._write()

    async def _within_timeout(self, action: str, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await in_time(work)
        except TimeoutError as exc:  # work() itself keeps every failure of the store
            self._load_failed = self._load_failed or action == "load"
            self._failed(action, exc)

    async def _write(self) -> None:
        if not self.loaded or self._load_failed:  # a stored count is not overwritten unread
            await self._read()
            self.loaded = True
        days, now = self._days, self._now()
        version, day, own, until = self._version, days.newest, days.own, days.spent_until(now)
        self._urgent = False
        self._last_write = self._monotonic()
        if day is None:
            self._written_version = version
            return
        store: Any = self.store  # save() may take exhausted_until, which QuotaStore leaves out
        try:
            if self._shared:
                stored = await store.merge(self._writer, day, own, exhausted_until=until, now=now)
            elif self._keeps_exhaustion and until is not None:
                stored = await store.save(day, days.others + own, exhausted_until=until)
            else:
                stored = await store.save(day, days.others + own)
            self._written = (day, own)
            self._written_version = version
            self._load_failed = False  # the store holds this count now: nothing left unread
            if self._shared:
                self._adopt(stored)
        except Exception as exc:  # a store failure never fails a call
            self._failed("save", exc)
            return
        self._health.works()

    def _failed(self, action: str, exc: Exception) -> None:
        self._health.failed(action, exc)
