"""Use a caller's ``httpx.AsyncClient`` as the wire under the library's own stack."""

from __future__ import annotations

import httpx

__all__ = ["ClientTransport"]


class ClientTransport(httpx.AsyncBaseTransport):
    """Sends each request through ``client`` (its transport, proxies, TLS and event hooks).

    The library's auth, retry and limits stay on top; the client's own auth, base URL and default
    headers are not used, and closing the library does not close the caller's client.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request, stream=True, auth=None, follow_redirects=False)

    async def aclose(self) -> None:
        """The caller owns the client: leave it open."""
