"""AsyncClosing: ``async with`` for anything with an ``aclose()``; the running event loop."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import sniffio

__all__ = ["AsyncClosing", "current_loop"]


def current_loop() -> object:
    """The running event loop (asyncio's loop, trio's token): what pooled connections belong to."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token()
    return asyncio.get_running_loop()


class AsyncClosing:
    """An async context manager that returns itself and calls ``aclose()`` on the way out."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
