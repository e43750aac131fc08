"""Deadlines cheap enough to put around every request body a server reads.

``with deadlines.start() as deadline: ...`` cuts the block off after ``deadlines.seconds``, and
``deadline.expired`` tells afterwards. On asyncio an anyio cancel scope costs 10-12 µs per
request (in the fresh task of each request, under uvicorn and uvloop: more than everything else
the webhook receiver does, and the ack benchmark's aim is then missed), ``asyncio.timeout``
about 6 µs and a timer per request 2-3 µs, so there all the blocks of one :class:`Deadlines`
share one timer (about 1.3 µs a block): blocks start in deadline order, the timer fires at the
earliest deadline, cancels the tasks whose deadline has passed (undone with ``Task.uncancel()``
as ``asyncio.timeout`` does, so a cancellation from elsewhere is never swallowed) and is set
again for the next. Elsewhere (trio) each block gets an anyio cancel scope, which is cheap
there. A deadline fires up to the time the event loop takes to run its timer late; never early.
One event loop at a time: blocks left in a loop that was closed are forgotten when the next
loop starts one.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import anyio

__all__ = ["Deadlines"]


class Deadlines:
    """Blocks cut off after ``seconds`` (a finite number > 0)."""

    __slots__ = ("_loop", "_running", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._running: dict[_Deadline, float] = {}  # in start order, hence deadline order
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> _Deadline:
        """A deadline ``seconds`` from now, for one ``with`` block."""
        return _Deadline(self)

    def _restart(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new event loop: the blocks the last one left (it is closed) are forgotten."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._running = {}
        self._loop = loop

    def _expire(self) -> None:
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        running = self._running
        while running:
            deadline, when = next(iter(running.items()))
            if when > now:  # also when the loop runs a timer early (within its clock resolution)
                self._timer = self._loop.call_at(when, self._expire)
                return
            del running[deadline]
            deadline.cut_off()


class _Deadline:
    __slots__ = ("_cancelling", "_owner", "_scope", "_task", "expired")

    def __init__(self, owner: Deadlines) -> None:
        self._owner = owner
        self._scope: anyio.CancelScope | None = None
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False

    def __enter__(self) -> _Deadline:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no asyncio loop in this thread: trio
            task = None
        if task is None:
            self._scope = anyio.move_on_after(self._owner.seconds).__enter__()
            return self
        self._task = task
        self._cancelling = task.cancelling()
        owner = self._owner
        loop = task.get_loop()
        if owner._loop is not loop:
            owner._restart(loop)
        when = loop.time() + owner.seconds
        owner._running[self] = when
        if owner._timer is None:
            owner._timer = loop.call_at(when, owner._expire)
        return self

    def cut_off(self) -> None:
        assert self._task is not None
        self.expired = True
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if self._scope is not None:
            suppressed = bool(self._scope.__exit__(exc_type, exc, traceback))
            self.expired = self._scope.cancelled_caught
            return suppressed
        if not self.expired:
            self._owner._running.pop(self, None)  # gone if its loop was replaced
            return False
        # Synchronous on purpose: the timer only fires while the task waits inside the block,
        # so the cancellation it caused is always met there.
        assert self._task is not None
        ours = self._task.uncancel() <= self._cancelling  # no other cancellation is pending
        return ours and exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
