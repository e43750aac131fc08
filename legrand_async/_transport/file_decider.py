"""``FileQuotaStore(path, shared=True)``: the decisions of ``RedisQuotaStore`` in a locked file.

For several processes on one host without Redis: each decision takes the file's lock
(``<name>.lock``, :mod:`filelock`: ``flock``, released with a process that dies), reads the
small JSON record, decides exactly as the Redis script does (:func:`decide`, the same fields),
and writes it back by an atomic rename (no fsync: the record is worth a day at most, and a
crash of the whole host loses at most the last writes, which the writers bring back with their
next calls). The pace is on the host's monotonic clock, which every process shares.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import filelock

from .._files import read_private
from .._json import NotJSON, loads
from .day_count import STORE_SKEW
from .deciding import Ask, Decision, Verdict, WhenUnavailable
from .quota_store import MAX_QUOTA_FILE, FileQuotaStore

__all__ = ["SharedFileQuotaStore", "decide"]

_SKEW_MS = int(STORE_SKEW.total_seconds() * 1000)
#: A pace or pause further ahead of the monotonic clock than any pause (an hour) and pace
#: could set was written before the host rebooted (its clock started again): it is dropped.
_STALE_US = 2 * 3600 * 10**6


def _ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def decide(record: dict[str, Any], ask: Ask, clock: int) -> tuple[dict[str, Any], Decision]:
    """The Redis script's decision (see ``_redis/quota.py``), on a record of the same fields;
    ``clock`` is the pace's clock in µs. Returns the new record and the decision."""
    day, now, writer = _ms(ask.day), _ms(ask.now), "w:" + ask.writer
    kday, kend = record.get("day"), record.get("end")
    tat, pause, spent = record.get("tat", 0), record.get("pause", 0), record.get("spent", 0)
    if tat - clock > _STALE_US or pause - clock > _STALE_US:  # the host rebooted: a new clock
        tat = pause = 0
    mine = True
    if kday is None or kday < day or kday - now > _SKEW_MS:
        record = {"tat": tat, "pause": pause, "spent": spent}
        kday, kend = day, _ms(ask.day_end)
        record.update(day=kday, end=kend, sum=0, base=0)
    elif kday > day:
        mine = False
    total, base, prev = record.get("sum", 0), record.get("base", 0), record.get(writer, 0)
    if mine:
        if ask.own != prev:
            total += ask.own - prev
            if ask.own < prev:
                base = max(0, base - (prev - ask.own))
            prev = ask.own
        base = max(base, ask.floor)
    used, verdict, wait, slot, before = max(total, base), Verdict.PEEK, 0, 0, tat
    interval = round(ask.interval * 1e6)
    if ask.take:
        if spent > now:
            verdict = Verdict.SPENT
        elif ask.per_day is not None and used >= ask.per_day:
            verdict = Verdict.FULL
        else:
            wait = max(pause - clock, 0)
            ahead = tat - clock if interval > 0 and tat > clock else 0
            horizon = round(ask.horizon * 1e6)
            if wait > 0 or ahead > horizon:
                verdict, wait = Verdict.WAIT, max(wait, ahead - horizon)
            else:
                verdict, wait = Verdict.GRANTED, ahead
                total, base, prev = total + 1, base + 1, prev + 1
                used = max(total, base)
                if interval > 0:
                    tat = slot = max(tat, clock) + interval
    record.update(sum=total, base=base, tat=tat, **{writer: prev})
    decision = Decision(
        verdict=verdict,
        used=used,
        day=datetime.fromtimestamp(kday / 1000, ask.day.tzinfo),
        wait=wait / 1e6,
        spent_until=datetime.fromtimestamp(spent / 1000, ask.day.tzinfo) if spent > 0 else None,
        pace=(slot, before) if slot else None,
    )
    return record, decision


def _clock() -> int:
    return time.monotonic_ns() // 1000


class SharedFileQuotaStore(FileQuotaStore):
    """A :class:`FileQuotaStore` made with ``shared=True``: a deciding store (see the module)."""

    def __init__(
        self,
        path: str | Path,
        shared: bool = True,
        *,
        timeout: float = 2.0,
        when_unavailable: WhenUnavailable = "raise",
    ) -> None:
        super().__init__(path)
        if not shared:
            raise ValueError("a SharedFileQuotaStore is shared")
        if when_unavailable not in ("raise", "memory"):
            raise ValueError('when_unavailable must be "raise" or "memory"')
        self.timeout = float(timeout)
        self.when_unavailable: WhenUnavailable = when_unavailable
        self._file_lock = filelock.FileLock(
            self.path.with_name(self.path.name + ".lock"), timeout=self.timeout, mode=0o600
        )

    async def decide(self, ask: Ask) -> Decision:
        return await anyio.to_thread.run_sync(self._locked, _decide_in, ask, abandon_on_cancel=True)

    async def pause(self, seconds: float) -> None:
        await anyio.to_thread.run_sync(self._locked, _pause_in, seconds, abandon_on_cancel=True)

    async def exhaust(self, until: datetime) -> None:
        await anyio.to_thread.run_sync(self._locked, _exhaust_in, until, abandon_on_cancel=True)

    async def give_back(self, pace: tuple[int, int]) -> None:
        await anyio.to_thread.run_sync(self._locked, _give_back_in, pace, abandon_on_cancel=True)

    def _locked(self, change: Any, arg: Any) -> Any:
        """``change(record, arg)`` on the file's record under its lock; written if changed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._file_lock:
            record = self._record()
            new, result = change(dict(record), arg)
            if new != record:
                self._store(new)
            return result

    def _record(self) -> dict[str, Any]:
        try:
            content, _ = read_private(self.path, MAX_QUOTA_FILE)
            record = loads(content)
        except (FileNotFoundError, NotJSON):
            return {}
        return record if isinstance(record, dict) and "sum" in record else {}

    def _store(self, record: dict[str, Any]) -> None:
        prefix = f".{self.path.name}.{os.getpid()}."
        fd, temp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(record, file)
            os.replace(temp, self.path)
        except BaseException:
            os.unlink(temp)
            raise

    def __repr__(self) -> str:
        return f"FileQuotaStore({str(self.path)!r}, shared=True)"


def _decide_in(record: dict[str, Any], ask: Ask) -> tuple[dict[str, Any], Decision]:
    return decide(record, ask, _clock())


def _pause_in(record: dict[str, Any], seconds: float) -> tuple[dict[str, Any], None]:
    record["pause"] = max(record.get("pause", 0), _clock() + max(1, round(seconds * 1e6)))
    return record, None


def _exhaust_in(record: dict[str, Any], until: datetime) -> tuple[dict[str, Any], None]:
    record["spent"] = max(record.get("spent", 0), _ms(until))
    return record, None


def _give_back_in(record: dict[str, Any], pace: tuple[int, int]) -> tuple[dict[str, Any], None]:
    if record.get("tat") == pace[0]:
        record["tat"] = pace[1]
    return record, None
