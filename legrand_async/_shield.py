"""Run a step to its end whatever happens to the caller: anyio's shield, and asyncio's too.

An anyio shielded scope stops anyio's own cancellation (cancel scopes, ``fail_after``, task
groups, trio), but not asyncio's native one: ``asyncio.wait_for``, ``asyncio.timeout`` and
``task.cancel()`` (what Home Assistant and most asyncio code use) throw ``CancelledError`` into
whatever the task awaits, shield or not. So the step runs shielded in a child task: a native
cancellation reaches only the task group, which waits for the child before it raises (and
``asyncio.timeout`` still turns it into ``TimeoutError``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["shielded"]

T = TypeVar("T")


async def shielded(step: Callable[[], Awaitable[T]]) -> T:
    """``await step()`` to its end; a cancellation of the caller is raised afterwards."""
    results: list[T] = []
    errors: list[Exception] = []

    async def child() -> None:
        with anyio.CancelScope(shield=True):
            try:
                results.append(await step())
            except Exception as exc:  # raised as is below, not in an ExceptionGroup
                errors.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(child)
    if errors:
        raise errors[0]
    return results[0]
