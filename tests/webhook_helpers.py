"""Helpers of the webhook tests: post to a receiver in process (through httpx, or as an ASGI
server would), take its events, serve it."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
import httpx
import uvicorn

from legrand_async.webhooks import WebhookEvent, WebhookReceiver

from .conftest import load

#: The secret and path :func:`call` posts to unless told otherwise, and the fixture delivery.
SECRET = "s3cret-0123456789abcdef"
PATH = f"/legrand/hook/{SECRET}"
EVENT = load("smarther_c2c_event.json")
BODY = json.dumps(EVENT).encode()

#: Secrets of every shape the constructor accepts: each must be reachable at its URL.
SECRETS = [
    "with spaces in the middle 0123",
    "   leading-and-trailing-blanks   ",
    "percent%41sign-and-%2F-0123456789",
    "%%%%%%%%%%%%%%%%",
    "ünïcødé-sécret-✓-0123",
    "emoji-🔑🏠-0123456789abc",
    "query?and#hash&amp=1-0123",
    "plus+and=equals;semi,colon-0123",
    "back\\slash-and-\"quotes'-0123",
    "tab\tand\nnewline-0123456789",
    "nul\x00byte-0123456789abc",
    "................",
    "~!@$^*()[]{}|<>`-0123456789",
]


@asynccontextmanager
async def posting(receiver: WebhookReceiver, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests go to ``receiver`` in process (httpx's ASGI transport)."""
    transport = httpx.ASGITransport(app=receiver, **kwargs)
    async with httpx.AsyncClient(transport=transport) as http:
        yield http


async def take(receiver: WebhookReceiver, n: int, seconds: float = 2) -> list[Any]:
    """The next ``n`` events of ``receiver`` (TimeoutError when they do not come)."""
    got: list[WebhookEvent] = []
    if n == 0:
        return got
    with anyio.fail_after(seconds):
        async with aclosing(receiver.events()) as events:
            async for event in events:
                got.append(event)
                if len(got) == n:
                    break
    return got


@asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[int]:
    """``app`` served by uvicorn on 127.0.0.1; yields the port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="critical", lifespan="off", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(5):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


class Answer:
    """What the app sent back: status, headers (lowercase names), body; ``reads`` is how many
    times it called ``receive``."""

    def __init__(self, sent: list[dict[str, Any]], reads: int) -> None:
        self.sent = sent
        self.reads = reads
        self.status = sent[0]["status"] if sent else None
        self.headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]} if sent else {}
        self.body = b"".join(m.get("body", b"") for m in sent[1:])


async def call(
    app: WebhookReceiver,
    body: bytes | list[bytes] | None = b"",
    *,
    method: str = "POST",
    path: str = PATH,
    headers: Any = (),
) -> Answer:
    """One request to ``app``: ``body`` in one message, a list of parts in as many, or None for
    headers only and then nothing, ever (a receive past the last part never returns either)."""
    parts = [body] if isinstance(body, bytes) else list(body or ())
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads > len(parts):
            await anyio.sleep_forever()
        return {"type": "http.request", "body": parts[reads - 1], "more_body": reads < len(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    await app(scope, receive, send)
    return Answer(sent, reads)


async def drain(receiver: WebhookReceiver) -> list[Any]:
    """Every event the receiver holds: those before a last delivery posted to mark the end."""
    end = json.dumps({"id": "the end", "eventType": "end"}).encode()
    assert (await call(receiver, end)).status == 200
    got: list[Any] = []
    with anyio.fail_after(2):
        async for event in receiver.events():
            if event.event_id == "the end":
                return got
            got.append(event)
    raise AssertionError  # pragma: no cover


def delivery(event_id: str, **fields: Any) -> list[dict[str, Any]]:
    body = copy.deepcopy(EVENT)
    body[0]["id"] = event_id
    body[0].update(fields)
    return body
