"""A raw HTTP/1.1 server on a loopback socket that does what a test script tells it, byte by byte.

Run under trio with ``trio.testing.MockClock(autojump_threshold=0)`` (:func:`run_virtual`): the
server's ``anyio.sleep`` and the client's timeouts are on the virtual clock, so a server that
trickles a byte a second for an hour runs in milliseconds, over real sockets and httpcore.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import trio
import trio.testing

from legrand_async import LegrandClient, RetryPolicy

from .conftest import KEY, TOKEN, wire

Script = Callable[["Connection"], Awaitable[None]]
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class Connection:
    """One accepted connection, as the script sees it."""

    def __init__(self, stream: anyio.abc.SocketStream, server: WireServer) -> None:
        self.stream = stream
        self.server = server
        self._buffer = b""

    async def request(self) -> bytes:
        """The next request's head (and its body, when it has a Content-Length)."""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += await self.stream.receive()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self._buffer) < length:
            self._buffer += await self.stream.receive()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        self.server.requests.append(head + b"\r\n\r\n" + body)
        return head

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def trickle(self, data: bytes, every: float = 1.0) -> None:
        """``data`` one byte at a time, ``every`` seconds apart."""
        for i in range(len(data)):
            await anyio.sleep(every)
            await self.stream.send(data[i : i + 1])


class WireServer:
    """Serves every connection with ``script``; counts connections and their ends."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed_by_client = 0
        self.port = 0

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        async with stream:
            try:
                await self.script(Connection(stream, self))
                while True:  # the script is done: ignore what comes until the client closes
                    await stream.receive()
            except _GONE:
                self.closed_by_client += 1

    async def run(self, main: Callable[[str], Awaitable[Any]]) -> Any:
        """Serve while ``main(base_url)`` runs; its result."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, self._serve)
            try:
                result = await main(f"http://127.0.0.1:{self.port}")
                await anyio.sleep(10)  # a trickle sees a close at its second send after it
                return result
            finally:
                group.cancel_scope.cancel()


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main`` under trio on a mock clock that jumps whenever everything is blocked."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return anyio.run(main, backend="trio", backend_options={"clock": clock})


def serve(script: Script, main: Callable[[str], Awaitable[Any]]) -> tuple[WireServer, Any]:
    """Run ``main(base_url)`` against a :class:`WireServer` of ``script``, in virtual time."""
    server = WireServer(script)

    async def run() -> Any:
        return await server.run(main)

    return server, run_virtual(run)


def client_at(base_url: str, **kwargs: Any) -> LegrandClient:
    """A client of ``base_url`` on the event loop's clock, without a limiter or jitter."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("retry", RetryPolicy(jitter=0))
    kwargs.setdefault("rng", random.Random(0))
    kwargs.setdefault("transport", wire())  # the tests' shared SSL context: quick to make
    return LegrandClient(KEY, access_token=TOKEN, base_url=base_url, **kwargs)


def head(status: str = "200 OK", *, length: int | None = None, extra: str = "") -> bytes:
    """A response head; ``length`` None means no Content-Length."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
