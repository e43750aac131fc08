"""A caller's transport, used by short-lived clients that must not close it."""

from __future__ import annotations

import httpx

__all__ = ["Borrowed"]


class Borrowed(httpx.AsyncBaseTransport):
    """Forwards requests to ``transport``; closing it leaves ``transport`` open."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)
