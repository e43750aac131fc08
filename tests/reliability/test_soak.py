"""The fault soak: thousands of calls over every route while the simulator injects faults.

Seeded (the fleet, the faults, the jitter) and on a fake clock shared by the client and the
simulator, so nothing sleeps for real and a run repeats. ``pytest -s`` prints the figures.
Every call must end in a result or a documented LegrandError; every response the wire handed
out must be closed; no request may take more attempts than the retry policy allows.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from typing import Any

import attrs
import httpx
import pytest

from legrand_async import (
    DeviceBusy,
    LegrandClient,
    LegrandError,
    ModuleKind,
    NotFound,
    RequestTimeout,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    SetStatus,
    TransportError,
)
from legrand_async._routes import ROUTES
from legrand_async.simulator import Simulator

from ..conftest import FakeClock

SEED = 20261121
CALLS = 3000
FAULT_RATE = 0.3
POLICY = RetryPolicy(max_attempts=4, initial_delay=0, max_delay=0)
UNKNOWN_SUBSCRIPTION = "00000000-0000-4000-8000-000000000000"
#: What a fault may turn a call into. NotFound only on unsubscribe: a dropped DELETE is retried
#: after the backend acted, and when a subscribe failed there is no id to delete (a made-up one).
DOCUMENTED = (
    RequestTimeout,
    DeviceBusy,
    ServerError,
    TransportError,
    ResponseValidationError,
)
NOT_FOUND_ROUTES = {"smarther.unsubscribe"}


# ------------------------------------------------------------------------- the wire, audited


@attrs.define
class Ledger:
    """Everything the wire handed out: requests with their sends, streams opened and closed."""

    sends: dict[int, int] = attrs.field(factory=dict)  # id(request) -> times sent
    requests: list[httpx.Request] = attrs.field(factory=list)  # keeps the ids unique
    responses: list[httpx.Response] = attrs.field(factory=list)
    opened: int = 0
    closed: int = 0


class _AuditedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, ledger: Ledger) -> None:
        self._inner = inner
        self._ledger = ledger
        self._closed = False
        ledger.opened += 1

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._ledger.closed += 1
        await self._inner.aclose()


class AuditedTransport(httpx.AsyncBaseTransport):
    """Wraps the simulator's transport: counts the sends of every request and every stream."""

    def __init__(
        self, wrapped: httpx.AsyncBaseTransport, ledger: Ledger, *, interleave: bool = False
    ) -> None:
        self._wrapped = wrapped
        self.ledger = ledger
        self._interleave = interleave

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ledger = self.ledger
        if id(request) not in ledger.sends:
            ledger.requests.append(request)
            ledger.sends[id(request)] = 0
        ledger.sends[id(request)] += 1
        if self._interleave:  # the in-process wire never waits: let the other calls run
            await asyncio.sleep(0)
        response = await self._wrapped.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        audited = httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_AuditedStream(response.stream, ledger),
            extensions=response.extensions,
            request=request,
        )
        ledger.responses.append(audited)
        return audited

    async def aclose(self) -> None:
        await self._wrapped.aclose()


# ------------------------------------------------------------------------------- the calls


@attrs.define
class World:
    """The simulator, its clock, and the subscription ids the soak may delete."""

    sim: Simulator
    clock: FakeClock
    subscriptions: dict[str, list[str]] = attrs.field(factory=dict)

    def naive_now(self) -> Any:
        return self.clock.now().astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _modules(plant: Any, kind: str) -> list[str]:
    return [m.id for a in plant.state.ambients for m in a[3] if m.kind == kind] + [
        m.id for m in plant.state.hc_modules if m.kind == kind
    ]


_STATUS_KINDS = [ModuleKind.PLUG, ModuleKind.LIGHT, ModuleKind.AUTOMATION, ModuleKind.REMOTE]


def _set_status(w: World, i: int) -> SetStatus:
    match i % 5:
        case 0:
            return SetStatus.manual(18 + i % 7 + 0.5)
        case 1:
            return SetStatus.automatic(i % 12)
        case 2:
            return SetStatus.off()
        case 3:
            return SetStatus.protection()
        case _:
            return SetStatus.boost(30, start=w.naive_now())


async def _subscribe(c: LegrandClient, w: World, p: Any, i: int) -> str:
    sid = await c.smarther.subscribe(p, f"https://hooks.example.org/{p}/{i}")
    w.subscriptions.setdefault(p, []).append(sid)
    return sid


async def _unsubscribe(c: LegrandClient, w: World, p: Any, i: int) -> None:
    pool = w.subscriptions.get(p) or [UNKNOWN_SUBSCRIPTION]
    await c.smarther.unsubscribe(p, pool.pop())


async def _get_module_status(c: LegrandClient, w: World, p: Any, i: int) -> Any:
    kind = _STATUS_KINDS[i % len(_STATUS_KINDS)]
    modules = _modules(p, kind.value)
    return await c.home_control.get_module_status(p.hc_id, kind, modules[i % len(modules)])


async def _set_module_status(c: LegrandClient, w: World, p: Any, i: int) -> None:
    kind = (ModuleKind.PLUG, ModuleKind.LIGHT)[i % 2]
    modules = _modules(p, kind.value)
    await c.home_control.set_module_status(p.hc_id, kind, modules[i % 3], on=i % 4 < 2)


async def _run_scene(c: LegrandClient, w: World, p: Any, i: int) -> None:
    await c.home_control.run_scene(p.hc_id, p.state.scenes[i % 2][0])


def _socket_target(p: Any, i: int) -> tuple[str, str]:
    s = p.state.sockets[i % 2]
    by = ("id", "name", "type")[i % 3]
    return by, getattr(s, by)


async def _get_plugs(c: LegrandClient, w: World, p: Any, i: int) -> Any:
    return await c.multisocket.get_plugs(p, *_socket_target(p, i))


async def _set_plugs(c: LegrandClient, w: World, p: Any, i: int) -> None:
    by, value = _socket_target(p, i)
    await c.multisocket.set_plugs(p, by, value, [i % 2 == 0, i % 3 == 0, True])


Call = Callable[[LegrandClient, World, Any, int], Awaitable[Any]]

CALLS_BY_ROUTE: dict[str, Call] = {
    "smarther.list_plants": lambda c, w, p, i: c.smarther.list_plants(),
    "smarther.get_topology": lambda c, w, p, i: c.smarther.get_topology(p),
    "smarther.get_status": lambda c, w, p, i: c.smarther.get_status(p, p.module_ids[i % 2]),
    "smarther.set_status": lambda c, w, p, i: c.smarther.set_status(
        p, p.module_ids[i % 2], _set_status(w, i)
    ),
    "smarther.get_measures": lambda c, w, p, i: c.smarther.get_measures(p, p.module_ids[i % 2]),
    "smarther.get_programs": lambda c, w, p, i: c.smarther.get_programs(p, p.module_ids[i % 2]),
    "smarther.list_subscriptions": lambda c, w, p, i: c.smarther.list_subscriptions(),
    "smarther.subscribe": _subscribe,
    "smarther.unsubscribe": _unsubscribe,
    "home_control.list_plants": lambda c, w, p, i: c.home_control.list_plants(),
    "home_control.get_topology": lambda c, w, p, i: c.home_control.get_topology(p.hc_id),
    "home_control.get_plant_status": lambda c, w, p, i: c.home_control.get_plant_status(p.hc_id),
    "home_control.get_module_status": _get_module_status,
    "home_control.set_module_status": _set_module_status,
    "home_control.set_ambient_plugs": lambda c, w, p, i: c.home_control.set_ambient_plugs(
        p.hc_id, p.state.ambients[i % 3][0], on=i % 2 == 0
    ),
    "home_control.set_automation_level": lambda c, w, p, i: c.home_control.set_automation_level(
        p.hc_id, _modules(p, "automation")[0], i % 101
    ),
    "home_control.stop_automation": lambda c, w, p, i: c.home_control.stop_automation(
        p.hc_id, _modules(p, "automation")[0]
    ),
    "home_control.list_scenes": lambda c, w, p, i: c.home_control.list_scenes(p.hc_id),
    "home_control.run_scene": _run_scene,
    "multisocket.get_plugs": _get_plugs,
    "multisocket.set_plugs": _set_plugs,
    "door_entry.call_home": lambda c, w, p, i: c.door_entry.call_home(p, p.door_units[0]),
}
ROUTE_NAMES = [f"{r.family}.{r.name}" for r in ROUTES]


def test_the_soak_calls_every_route() -> None:
    assert set(CALLS_BY_ROUTE) == set(ROUTE_NAMES)


# -------------------------------------------------------------------------------- the soak


@attrs.define
class Figures:
    calls: int = 0
    successes: int = 0
    errors: Counter[str] = attrs.field(factory=Counter)
    errors_by_route: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    gave_up: Counter[tuple[str, str, int]] = attrs.field(factory=Counter)  # route, error, attempts
    escaped: list[tuple[str, BaseException]] = attrs.field(factory=list)
    over_attempts: list[tuple[str, int]] = attrs.field(factory=list)
    seconds: float = 0.0


async def soak(
    calls: int = CALLS, concurrency: int = 1, seed: int = SEED
) -> tuple[Figures, Simulator, LegrandClient, Ledger, FakeClock]:
    clock = FakeClock()
    notifications: list[Any] = []

    def receiver(request: httpx.Request) -> httpx.Response:  # every set_status notifies
        notifications.append(json.loads(request.content))
        return httpx.Response(200, text="OK")

    sim = Simulator.fleet(
        plants=50,
        thermostats_per_plant=2,
        seed=seed,
        fault_rate=FAULT_RATE,
        clock=clock,
        webhook_transport=httpx.MockTransport(receiver),
    )
    world = World(sim, clock)
    ledger = Ledger()
    figures = Figures()
    client = sim.client(
        transport=AuditedTransport(sim.transport(), ledger, interleave=concurrency > 1),
        retry=POLICY,
        clock=clock,
        rng=random.Random(seed),
    )

    async def one(i: int) -> None:
        name = ROUTE_NAMES[i % len(ROUTE_NAMES)]
        plant = sim.plants[(i // len(ROUTE_NAMES)) % len(sim.plants)]
        before = client.stats.attempts
        figures.calls += 1
        try:
            await CALLS_BY_ROUTE[name](client, world, plant, i)
        except LegrandError as exc:
            figures.errors[type(exc).__name__] += 1
            figures.errors_by_route[name, type(exc).__name__] += 1
            documented = isinstance(exc, DOCUMENTED) or (
                isinstance(exc, NotFound) and name in NOT_FOUND_ROUTES
            )
            if not documented:
                figures.escaped.append((name, exc))
            attempts = getattr(exc, "attempts", 1)
            figures.gave_up[name, type(exc).__name__, attempts] += 1
            if attempts > POLICY.max_attempts:
                figures.over_attempts.append((name, attempts))
        except BaseException as exc:  # anything else is a bug of the library or the simulator
            figures.escaped.append((name, exc))
            if not isinstance(exc, Exception):
                raise
        else:
            figures.successes += 1
        if concurrency == 1 and client.stats.attempts - before > POLICY.max_attempts:
            figures.over_attempts.append((name, client.stats.attempts - before))

    started = time.perf_counter()
    async with client:
        for start in range(0, calls, concurrency):
            batch = range(start, min(start + concurrency, calls))
            if concurrency == 1:
                await one(start)
            else:
                await asyncio.gather(*(one(i) for i in batch))
        deliveries = await sim.delivered()
    figures.seconds = time.perf_counter() - started
    assert all(status == 200 for _, status in deliveries)
    assert len(notifications) == len(deliveries)
    assert all(n[0]["eventType"] == "DeviceToCloud" for n in notifications)
    return figures, sim, client, ledger, clock


def report(title: str, figures: Figures, sim: Simulator, client: LegrandClient) -> None:
    stats = client.stats
    print(f"\n--- {title} ---")
    print(
        f"calls: {figures.calls}  successes: {figures.successes} "
        f"({figures.successes / figures.calls:.1%})  in {figures.seconds:.2f} s"
    )
    print(f"errors by class: {dict(sorted(figures.errors.items()))}")
    print(f"attempts: {stats.attempts}  retries by cause: {dict(sorted(stats.retries.items()))}")
    print(
        f"statuses: {dict(sorted(stats.statuses.items()))}  transport errors: {dict(stats.errors)}"
    )
    print(
        f"faults injected: {dict(sorted(sim.faults.injected.items()))} "
        f"(total {sum(sim.faults.injected.values())})"
    )
    print(f"C2C deliveries: {len(sim.app.deliveries)}")


def check(figures: Figures, sim: Simulator, client: LegrandClient, ledger: Ledger) -> None:
    stats = client.stats
    assert figures.calls == CALLS
    assert figures.escaped == []
    assert figures.over_attempts == []
    # no response left open
    assert ledger.opened == ledger.closed == len(ledger.responses)
    assert all(response.is_closed for response in ledger.responses)
    # retries never exceed the policy, request by request, and the stats agree with the wire
    assert len(ledger.requests) == CALLS
    assert max(ledger.sends.values()) <= POLICY.max_attempts
    assert sum(ledger.sends.values()) == stats.attempts
    assert stats.attempts <= CALLS * POLICY.max_attempts
    assert stats.retried == stats.attempts - CALLS
    # the faults happened, all kinds of them, and were mostly absorbed by the retries
    injected = sim.faults.injected
    assert set(injected) == {"408", "486", "5xx", "latency", "drop", "malformed"}
    assert 0.2 < sum(injected.values()) / stats.attempts < 0.4
    assert {"408", "486", "RemoteProtocolError"} <= set(stats.retries)
    assert {500, 502, 503, 504} <= set(stats.statuses)
    assert figures.successes / figures.calls > 0.8
    assert figures.successes + sum(figures.errors.values()) == figures.calls
    # what fails for good: not-retried drops, malformed bodies, rare runs of bad luck
    assert figures.errors["TransportError"] > 0
    assert figures.errors["ResponseValidationError"] > 0
    # a retryable failure ends only when the attempts run out; a drop on a route that is not
    # idempotent is never retried (the backend may have acted)
    idempotent = {f"{r.family}.{r.name}": r.idempotent for r in ROUTES}
    for name, error, attempts in figures.gave_up:
        if error in ("RequestTimeout", "DeviceBusy", "ServerError") or (
            error == "TransportError" and idempotent[name]
        ):
            assert attempts == POLICY.max_attempts, (name, error, attempts)
    dropped_once = figures.gave_up["smarther.subscribe", "TransportError", 1]
    assert dropped_once + figures.gave_up["home_control.run_scene", "TransportError", 1] > 0
    with_body = {f"{r.family}.{r.name}" for r in ROUTES if r.response is not None}
    malformed = {
        name for name, error in figures.errors_by_route if error == "ResponseValidationError"
    }
    assert malformed <= with_body
    assert {name for name, error in figures.errors_by_route if error == "NotFound"} <= (
        NOT_FOUND_ROUTES
    )
    assert sim.calls_today == stats.attempts


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 50], ids=["sequential", "50-at-a-time"])
async def test_the_fault_soak(concurrency: int) -> None:
    figures, sim, client, ledger, _ = await soak(concurrency=concurrency)
    report(f"fault soak, {concurrency} at a time, seed {SEED}", figures, sim, client)
    check(figures, sim, client, ledger)
    assert figures.seconds < 30


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 50], ids=["sequential", "50-at-a-time"])
async def test_the_soak_repeats_with_the_same_seed(concurrency: int) -> None:
    runs = []
    for _ in range(2):
        figures, sim, client, _, clock = await soak(calls=600, concurrency=concurrency)
        runs.append(
            (
                figures.successes,
                dict(figures.errors_by_route),
                dict(sim.faults.injected),
                dict(client.stats.retries),
                dict(client.stats.statuses),
                clock.now(),
            )
        )
    assert runs[0] == runs[1]
    other, *_ = await soak(calls=600, concurrency=concurrency, seed=SEED + 1)
    assert (other.successes, dict(other.errors_by_route)) != (runs[0][0], runs[0][1])
