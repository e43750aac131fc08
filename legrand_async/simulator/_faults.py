"""Injected failures: the seeded fault plan and the answers each fault kind gives."""

from __future__ import annotations

import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.responses import PlainTextResponse, Response

from .._clock import Clock
from ._wire import error, hc_error

__all__ = ["ConnectionDropped", "Faults", "with_fault"]

_FIVE_XX = (500, 502, 503, 504)

#: The "bomb" fault's body: 64 MiB of zeros in about 290 KB of gzip (made once, when first used).
_BOMB: list[bytes] = []


def _bomb() -> bytes:
    if not _BOMB:
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        zeros = bytes(1 << 20)
        parts = [compressor.compress(zeros) for _ in range(64)]
        _BOMB.append(b"".join([*parts, compressor.flush()]))
    return _BOMB[0]


class _Trickled(Response):
    """The answer, its body sent one byte every ``pause`` seconds on ``clock`` (a slow server)."""

    def __init__(self, answer: Response, clock: Clock, pause: float) -> None:
        super().__init__(answer.body, answer.status_code, headers=dict(answer.headers))
        self._clock, self._pause = clock, pause

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async with anyio.create_task_group() as group:

            async def until_gone() -> None:  # stop trickling to a client that hung up
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(until_gone)
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            for i in range(len(self.body)):
                await self._clock.sleep(self._pause)
                piece = self.body[i : i + 1]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()


class ConnectionDropped(Exception):
    """Raised by the app to drop the connection mid-response (a fault)."""


class _Dropped(Response):
    """Starts a response, then drops the connection before the body is complete."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})
        raise ConnectionDropped("connection dropped by the simulator")


@dataclass
class Faults:
    """Injected failures: a probability for every call, overridable per route name."""

    rate: float = 0.0
    per_route: dict[str, float] = field(default_factory=dict)
    kinds: tuple[str, ...] = ("408", "486", "5xx", "latency", "drop", "malformed")
    latency: float = 0.2
    trickle: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    injected: dict[str, int] = field(default_factory=dict)

    def pick(self, route: str, family: str) -> str | None:
        """The fault to inject into this call, if any."""
        rate = self.per_route.get(route, self.rate)
        if rate <= 0 or self.rng.random() >= rate:
            return None
        kinds = [k for k in self.kinds if _applies(k, route, family)]
        if not kinds:
            return None
        kind = self.rng.choice(kinds)
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind


def _applies(kind: str, route: str, family: str) -> bool:
    if kind == "486":
        return route == "set_status"
    if kind == "408":
        return family == "door_entry" or (family == "smarther" and "subscri" not in route)
    return True


async def with_fault(
    faults: Faults, route: str, family: str, clock: Clock, answer: Callable[[], Awaitable[Response]]
) -> Response:
    """The route's ``answer``, or what the fault ``faults`` pick for this call makes of it."""
    fault = faults.pick(route, family)
    if fault == "408":
        return error(408, "Request timeout")
    if fault == "486":
        return error(486, "Busy visual user interface")
    if fault == "5xx":
        status = faults.rng.choice(_FIVE_XX)
        if family == "multisocket":  # its bodies are plain text
            return PlainTextResponse("Server error", status)
        return (hc_error if family == "home_control" else error)(status, "Server error")
    if fault == "latency":
        await clock.sleep(faults.latency)
    response = await answer()
    if fault == "drop":  # the backend acted, but the answer never arrives
        return _Dropped()
    if fault == "trickle":
        return _Trickled(response, clock, faults.trickle)
    if fault == "bomb":
        headers = {"Content-Encoding": "gzip"}
        return Response(_bomb(), 200, headers=headers, media_type="application/json")
    if fault == "malformed" and response.body:
        cut = response.body[: len(response.body) // 2]
        return Response(cut, response.status_code, media_type="application/json")
    return response
