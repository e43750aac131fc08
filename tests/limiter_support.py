"""Helpers of the limiter tests: a wall clock that jumps, stores that fail or hang, a process
writing a quota file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import anyio.lowlevel

ROOT = Path(__file__).resolve().parent.parent


class JumpClock:
    """A clock whose wall time can be stepped either way while monotonic time only moves on.

    ``advance`` is time passing (both clocks move); ``step`` sets the wall clock alone, as NTP
    or an administrator does. ``sleep`` moves time on at once.
    """

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._mono = 0.0
        self._offset = timedelta(0)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._mono) + self._offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self._mono += seconds
        await anyio.lowlevel.checkpoint()

    def advance(self, seconds: float) -> None:
        self._mono += seconds

    def step(self, seconds: float) -> None:
        """Move the wall clock alone by ``seconds`` (negative: back)."""
        self._offset += timedelta(seconds=seconds)


class RecordingStore:
    """A save-only store in memory that records its calls and can fail or hang on demand."""

    def __init__(self, stored: tuple[datetime, int] | None = None) -> None:
        self.stored = stored
        self.saves: list[tuple[datetime, int]] = []
        self.loads = 0
        self.fail_load: Exception | None = None
        self.fail_save: Exception | None = None
        self.hold: anyio.Event | None = None  # while set, save waits for it
        self.hold_load: anyio.Event | None = None  # while set, load waits for it
        self.saving = anyio.Event()  # set once a save has started

    async def load(self) -> tuple[datetime, int] | None:
        self.loads += 1
        if self.hold_load is not None:
            await self.hold_load.wait()
        if self.fail_load is not None:
            raise self.fail_load
        return self.stored

    async def save(self, day: datetime, used: int) -> None:
        self.saving.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_save is not None:
            raise self.fail_save
        self.saves.append((day, used))
        self.stored = (day, used)


QUOTA_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime, timezone
    import anyio
    from legrand_async import FileQuotaStore, RateLimit

    class Fixed:
        def monotonic(self): return time.monotonic()
        def now(self): return datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
        async def sleep(self, seconds): await anyio.sleep(seconds)

    async def main():
        path, calls, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        rate = RateLimit(per_day=None, store=FileQuotaStore(path), clock=Fixed(), flush_delay=0)
        await rate.load()
        print("ready", flush=True)
        while not os.path.exists(go):
            await anyio.sleep(0.005)
        done = 0
        while calls < 0 or done < calls:
            await rate.acquire()  # flush_delay=0: each call merges its count before it returns
            done += 1
            print(done, flush=True)
        await rate.flush()
        assert rate.store_error is None, rate.store_error

    anyio.run(main)
    """
)


def quota_worker(path: Path, calls: int, go: Path) -> subprocess.Popen[str]:
    """A process that loads ``path``, says ``ready``, waits for the file ``go`` to exist, then
    makes ``calls`` calls (forever if negative), each written at once, printing their number."""
    return subprocess.Popen(
        [sys.executable, "-c", QUOTA_WORKER, str(path), str(calls), str(go)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
