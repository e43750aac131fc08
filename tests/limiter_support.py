"""Helpers of the limiter tests: a wall clock that jumps, stores that fail or hang."""

from __future__ import annotations

from datetime import datetime, timedelta

import anyio
import anyio.lowlevel


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
