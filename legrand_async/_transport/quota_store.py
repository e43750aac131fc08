"""Where a limiter keeps today's count across restarts, and shares it between processes."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio.to_thread
import filelock

from .._files import read_private, write_private
from .._json import NotJSON, loads
from .day_count import MAX_STORED_SPENT, STORE_SKEW
from .day_window import utc

__all__ = ["FileQuotaStore", "QuotaStore", "SharedQuotaStore", "Stored"]

#: ``(start of the day window, calls used in it[, spent until])``.
Stored = tuple[datetime, int] | tuple[datetime, int, datetime | None]

#: Seconds a write waits for another process holding the file's lock (or a read or write for
#: an earlier read or write of the same object that has not ended) before it fails (and is
#: tried again on the next flush).
LOCK_TIMEOUT = 10.0
#: A record is a few dozen bytes: a file over 1 MiB is refused without being read.
MAX_QUOTA_FILE = 1024 * 1024

T = TypeVar("T")


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


@runtime_checkable
class SharedQuotaStore(QuotaStore, Protocol):
    """A store several processes (several limiters) write at once without losing counts."""

    async def merge(
        self,
        writer: str,
        day: datetime,
        calls: int,
        *,
        exhausted_until: datetime | None,
        now: datetime,
    ) -> Stored | None:
        """Make ``calls`` the count of ``writer`` in the window that started at ``day``, and
        return the whole record: every writer's calls, the latest "spent until" (one that is
        not after the writer's ``now`` is dropped).

        ``calls`` is absolute (not added): a merge repeated after a cancelled one counts once.
        A record of an earlier window is replaced; one of a later window is left as it is,
        unless it is further ahead of ``now`` than a clock could be (a day): a broken record.
        """
        ...


def _instant(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError("not a date")
    return utc(datetime.fromisoformat(text))


def _parse(data: Any) -> Stored | None:
    """A stored record, or None when it is not one (a broken count is not worth failing for)."""
    try:
        day, used = _instant(data["day"]), data["used"]
        if isinstance(used, bool) or not isinstance(used, int) or used < 0:
            return None
        until = data.get("exhausted_until")
        return (day, used) if until is None else (day, used, _instant(until))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None


def _latest(one: datetime | None, other: datetime | None) -> datetime | None:
    return other if one is None else one if other is None else max(one, other)


class FileQuotaStore:
    """Today's count in a small JSON file (written atomically, mode 0600), shared safely by every
    process that uses the same path.

    Writes take a lock file beside it (``<name>.lock``) and merge: each limiter's calls are
    added to the others' (see :class:`SharedQuotaStore`), so two processes never lose each
    other's counts. Reads take no lock (a write is an atomic rename). A path that is not a
    regular file (a directory, a FIFO, a device) or is over 1 MiB is refused without being
    read (``load`` and writes raise); a file that does not parse holds no count (and is
    replaced by the next write). The file is read and written in worker threads that a
    cancelled caller does not wait for (a dead disk holds no caller past its timeout).

    ``FileQuotaStore(path, shared=True, timeout=2.0, when_unavailable="raise")`` is a
    *deciding* store instead (exact across processes on one host, as ``RedisQuotaStore`` is
    across hosts): every call takes the lock, reads, decides and writes (no fsync). Give it a
    path of its own: it keeps a record of another shape.
    """

    def __new__(cls, path: str | Path, shared: bool = False, **options: Any) -> FileQuotaStore:
        if shared and cls is FileQuotaStore:
            from .file_decider import SharedFileQuotaStore

            cls = SharedFileQuotaStore
        return super().__new__(cls)

    def __init__(self, path: str | Path, shared: bool = False, **options: Any) -> None:
        if options:
            raise TypeError(f"FileQuotaStore takes {', '.join(options)} only with shared=True")
        self.path = Path(path)
        self._lock = filelock.FileLock(
            self.path.with_name(self.path.name + ".lock"), timeout=LOCK_TIMEOUT
        )
        self._written: dict[str, tuple[datetime, int]] = {}  # writer -> its calls in the file
        self._guard = threading.Lock()  # one read or write of this object at a time
        self._tickets = itertools.count()  # writes in the order they were asked for
        self._done: dict[str, int] = {}  # writer -> the ticket of its latest write made
        self._cleaned = False  # leftovers of interrupted writes are removed by the first write

    async def load(self) -> Stored | None:
        return await _in_thread(self._guarded, self._read)

    async def save(
        self, day: datetime, used: int, *, exhausted_until: datetime | None = None
    ) -> None:
        """Replace the record with this count (the limiter itself merges: :meth:`merge`)."""
        await self._write_in_thread("", self._write, day, used, exhausted_until)

    async def merge(
        self,
        writer: str,
        day: datetime,
        calls: int,
        *,
        exhausted_until: datetime | None,
        now: datetime,
    ) -> Stored | None:
        return await self._write_in_thread(
            writer, self._merge, writer, day, calls, exhausted_until, now
        )

    async def _write_in_thread(
        self, writer: str, work: Callable[..., Stored | None], *args: Any
    ) -> Stored | None:
        ticket = next(self._tickets)
        return await _in_thread(self._guarded, self._in_order, writer, ticket, work, *args)

    def _guarded(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)``, one at a time among this object's reads and writes (at most one
        thread waits on a disk that does not answer)."""
        if not self._guard.acquire(timeout=LOCK_TIMEOUT):
            raise TimeoutError(f"an earlier read or write of {self.path} has not ended")
        try:
            return work(*args)
        finally:
            self._guard.release()

    def _in_order(
        self, writer: str, ticket: int, work: Callable[..., Stored | None], *args: Any
    ) -> Stored | None:
        """``work(*args)`` holding the file's lock, unless a later write of ``writer`` is made
        already (its caller gave up on this one): a write left behind never undoes a newer."""
        if self._done.get(writer, -1) > ticket:
            return self._read()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            result = work(*args)
        self._done[writer] = ticket
        return result

    def _read(self) -> Stored | None:
        try:
            content, _ = read_private(self.path, MAX_QUOTA_FILE)
        except FileNotFoundError:
            return None
        try:
            return _parse(loads(content))
        except NotJSON:  # not JSON (or not UTF-8, or absurdly nested)
            return None

    def _merge(
        self,
        writer: str,
        day: datetime,
        calls: int,
        exhausted_until: datetime | None,
        now: datetime,
    ) -> Stored:
        current = self._read()
        if current is not None and current[0] > day:
            if current[0] - now <= STORE_SKEW:
                return current  # another process is in a later window already
            current = None  # a window further ahead than any clock: a broken record
        others = 0
        if current is not None and current[0] == day:
            done_day, done = self._written.get(writer, (None, 0))
            others = max(0, current[1] - (done if done_day == day else 0))
        kept = current[2] if current is not None and len(current) > 2 else None
        if kept is not None and kept - now > MAX_STORED_SPENT:  # broken: not kept
            kept = None
        until = _latest(exhausted_until, kept)
        if until is not None and until <= now:
            until = None
        self._write(day, others + calls, until)
        self._written[writer] = (day, calls)
        return day, others + calls, until

    def _write(self, day: datetime, used: int, exhausted_until: datetime | None) -> None:
        record: dict[str, object] = {"day": day.isoformat(), "used": used}
        if exhausted_until is not None:
            record["exhausted_until"] = exhausted_until.isoformat()
        write_private(self.path, json.dumps(record).encode(), clean=not self._cleaned)
        self._cleaned = True

    def __repr__(self) -> str:
        return f"FileQuotaStore({str(self.path)!r})"


async def _in_thread(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in a worker thread that a cancelled caller leaves behind."""
    return await anyio.to_thread.run_sync(work, *args, abandon_on_cancel=True)
