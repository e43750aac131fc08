"""Run a step to its end whatever happens to the caller: anyio's shield, and asyncio's too.

An anyio shielded scope stops anyio's own cancellation (cancel scopes, ``fail_after``, task
groups), but not asyncio's native one: ``asyncio.wait_for``, ``asyncio.timeout`` and
``task.cancel()`` (what Home Assistant and most asyncio code use) throw ``CancelledError`` into
whatever the task awaits, shield or not. So on asyncio the step runs in a task of its own,
which ``task.cancel()`` of the caller does not reach, and the caller waits for it to finish;
its cancellation is then raised, so ``asyncio.timeout`` still turns it into ``TimeoutError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import sniffio

__all__ = ["shielded"]

T = TypeVar("T")


async def shielded(step: Callable[[], Awaitable[T]]) -> T:
    """``await step()`` to its end; a cancellation of the caller is raised afterwards."""
    with anyio.CancelScope(shield=True):
        if sniffio.current_async_library() == "asyncio":
            result = await _in_own_task(step)
        else:  # trio: nothing gets through a shielded scope
            result = await step()
    return result


async def _in_own_task(step: Callable[[], Awaitable[T]]) -> T:
    import asyncio

    task = asyncio.ensure_future(step())
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError as exc:  # the caller's: the step goes on
            cancelled = exc
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: its outcome is the step's business, not the caller's
        raise cancelled
    return task.result()
