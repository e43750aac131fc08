"""C2C deliveries: what Legrand's notification service POSTs to the URLs a plant subscribed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from .._transport.borrowed import Borrowed
from ._fleet import Fleet

__all__ = ["Deliveries"]


class Deliveries:
    """Delivers bodies to a plant's subscribed URLs; keeps each (url, status or error)."""

    def __init__(self, fleet: Fleet, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.fleet = fleet
        self.transport = transport
        self.done: list[tuple[str, int | str]] = []  # (url, status or error)
        self.pending: set[Any] = set()

    def push(self, plant_id: str, body: Any) -> list[asyncio.Task[tuple[str, int | str]]]:
        """POST ``body`` (JSON, or bytes as they are) to every URL subscribed to the plant."""
        tasks = []
        for url in list(self.fleet.by_id[plant_id].subscriptions.values()):
            task = asyncio.get_running_loop().create_task(self._deliver(url, body))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            tasks.append(task)
        return tasks

    async def _deliver(self, url: str, body: Any) -> tuple[str, int | str]:
        target = httpx.URL(url)
        if target.host in ("127.0.0.1", "localhost", "::1"):
            target = target.copy_with(scheme="http")  # loopback receivers in tests have no TLS
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        outcome: tuple[str, int | str]
        try:
            wire = Borrowed(self.transport) if self.transport else None
            async with httpx.AsyncClient(transport=wire, timeout=5) as http:
                response = await http.post(target, content=content, headers=headers)
            outcome = (url, response.status_code)
        except httpx.HTTPError as exc:
            outcome = (url, type(exc).__name__)
        self.done.append(outcome)
        return outcome
