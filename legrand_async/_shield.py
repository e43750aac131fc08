"""Work that must run to its end whatever cancels the caller (a refresh on the wire, a count).

``anyio.CancelScope(shield=True)`` keeps anyio's cancellation out, but not asyncio's own
``task.cancel()``: what ``asyncio.run`` does on Ctrl-C, and ``asyncio.wait_for`` or
``asyncio.timeout`` on expiry. :func:`to_the_end` runs the work shielded in a task of its own,
which that cancellation of the caller cannot reach; the caller sees its cancellation once the
work is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["to_the_end"]

T = TypeVar("T")


async def to_the_end(work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``, never cut short by cancelling the caller; its result or its error."""
    outcome: list[T | Exception] = []

    async def run() -> None:
        with anyio.CancelScope(shield=True):
            try:
                outcome.append(await work())
            except Exception as exc:  # raised below, in the caller's task, as it is
                outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, name=f"legrand_async {getattr(work, '__name__', 'work')}")
    (result,) = outcome
    if isinstance(result, Exception):
        raise result
    return result
