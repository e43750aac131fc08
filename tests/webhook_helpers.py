"""Helpers of the webhook tests: post to a receiver in process, take its events, serve it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
import httpx
import uvicorn

from legrand_async.webhooks import WebhookEvent, WebhookReceiver


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
