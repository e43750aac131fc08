"""C2C deliveries: what Legrand's notification service POSTs to the URLs a plant subscribed.

A change is *scheduled* at once (a delivery per subscribed URL, due after the push latency,
dropped with the drop rate); it is *delivered* by the delivery service while the simulator runs
(``async with sim.running()``, or ``sim.serve()``), else when ``await sim.delivered()`` asks.
Everything runs in anyio task groups.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx

from .._clock import Clock
from .._transport.borrowed import Borrowed
from ._fleet import Fleet

__all__ = ["Deliveries", "Delivery", "PushControls"]

#: What a delivery came to: the receiver's status, or the name of what went wrong (an httpx
#: error, ``"dropped"``, ``"outage"``).
Outcome = tuple[str, int | str]


@dataclass
class PushControls:
    """How push behaves: ``sim.pushes``. Change any of it at any time.

    ``latency`` seconds (on the simulator's clock) between a change and its delivery;
    ``drop_rate`` the probability, 0..1, that a delivery is lost (drawn from ``rng``, seeded
    with the simulator's seed, when the change is made); ``outages`` windows ``[start, end)``
    in which deliveries due are lost (add them with :meth:`outage`).
    """

    latency: float = 0.0
    drop_rate: float = 0.0
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def outage(self, start: datetime, end: datetime | timedelta) -> None:
        """Lose every delivery due from ``start`` until ``end`` (a time, or a duration)."""
        end = start + end if isinstance(end, timedelta) else end
        if start.utcoffset() is None or end.utcoffset() is None:
            raise ValueError("an outage's start and end are aware datetimes")
        if not end > start:
            raise ValueError("an outage ends after it starts")
        self.outages.append((start, end))

    def in_outage(self, moment: datetime) -> bool:
        return any(start <= moment < end for start, end in self.outages)

    def check(self) -> None:
        if not 0 <= self.drop_rate <= 1:
            raise ValueError("drop_rate is a probability, 0..1")
        if not self.latency >= 0:
            raise ValueError("latency is a number of seconds, >= 0")


@dataclass
class Delivery:
    """One POST to one URL: due at ``due``; ``dropped`` when the drop rate lost it."""

    url: str
    body: Any
    due: datetime
    dropped: bool = False


class Deliveries:
    """Delivers bodies to a plant's subscribed URLs; keeps each (url, status or error)."""

    def __init__(
        self,
        fleet: Fleet,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        controls: PushControls | None = None,
    ) -> None:
        self.fleet = fleet
        self.clock = clock
        self.transport = transport
        self.controls = controls if controls is not None else PushControls()
        self.done: list[Outcome] = []
        self.queue: list[Delivery] = []
        self.in_flight = 0
        self._serving = 0
        self._wake: anyio.Event | None = None
        self._idle: list[anyio.Event] = []

    def _make(self, plant_id: str, body: Any) -> list[Delivery]:
        self.controls.check()
        due = self.clock.now() + timedelta(seconds=self.controls.latency)
        urls = list(self.fleet.by_id[plant_id].subscriptions.values())
        rng, rate = self.controls.rng, self.controls.drop_rate
        return [Delivery(url, body, due, rate > 0 and rng.random() < rate) for url in urls]

    def schedule(self, plant_id: str, body: Any) -> list[Delivery]:
        """Queue ``body`` (JSON, or bytes as they are) for every URL subscribed to the plant."""
        made = self._make(plant_id, body)
        self.queue.extend(made)
        if made and self._wake is not None:
            self._wake.set()
        return made

    async def push(self, plant_id: str, body: Any) -> list[Outcome]:
        """Deliver ``body`` to every URL subscribed to the plant now; the outcome of each."""
        made = self._make(plant_id, body)
        outcomes: list[Outcome] = [("", 0)] * len(made)

        async def one(i: int, delivery: Delivery) -> None:
            outcomes[i] = await self._tracked(delivery)

        async with anyio.create_task_group() as group:
            for i, delivery in enumerate(made):
                group.start_soon(one, i, delivery)
        return outcomes

    async def run(self) -> None:
        """The delivery service: delivers what is queued, as it is queued, until cancelled."""
        self._serving += 1
        try:
            async with anyio.create_task_group() as group:
                while True:
                    while self.queue:
                        group.start_soon(self._tracked, self.queue.pop(0))
                    self._wake = anyio.Event()
                    await self._wake.wait()
        finally:
            self._serving -= 1
            self._wake = None

    async def drain(self) -> list[Outcome]:
        """Wait until nothing is queued or in flight (delivering it here if no service runs)."""
        while self.queue or self.in_flight:
            if self._serving:
                idle = anyio.Event()
                self._idle.append(idle)
                await idle.wait()
                continue
            batch, self.queue = self.queue, []
            async with anyio.create_task_group() as group:
                for delivery in batch:
                    group.start_soon(self._tracked, delivery)
        return list(self.done)

    async def _tracked(self, delivery: Delivery) -> Outcome:
        self.in_flight += 1
        try:
            outcome = await self._deliver(delivery)
            self.done.append(outcome)
            return outcome
        finally:
            self.in_flight -= 1
            if not self.queue and not self.in_flight:
                for idle in self._idle:
                    idle.set()
                self._idle.clear()

    async def _deliver(self, delivery: Delivery) -> Outcome:
        url = delivery.url
        wait = (delivery.due - self.clock.now()).total_seconds()
        if wait > 0:
            await self.clock.sleep(wait)
        if self.controls.in_outage(delivery.due):
            return url, "outage"
        if delivery.dropped:
            return url, "dropped"
        target = httpx.URL(url)
        if target.host in ("127.0.0.1", "localhost", "::1"):
            target = target.copy_with(scheme="http")  # loopback receivers in tests have no TLS
        body = delivery.body
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        try:
            wire = Borrowed(self.transport) if self.transport else None
            async with httpx.AsyncClient(transport=wire, timeout=5) as http:
                response = await http.post(target, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return url, type(exc).__name__
        return url, response.status_code
