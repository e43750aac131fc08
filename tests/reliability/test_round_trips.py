"""State round trips: set then get for every settable thing returns what was set.

No faults here: whatever the client sets, the simulator keeps, and reading it back gives it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from legrand_async import (
    Function,
    LegrandClient,
    MemoryTokenStore,
    Mode,
    ModuleKind,
    OAuth2Auth,
    RetryPolicy,
    SetStatus,
)
from legrand_async.simulator import Simulator

from ..conftest import FakeClock

NO_RETRY = RetryPolicy(max_attempts=1)


@asynccontextmanager
async def world(**kwargs: Any) -> AsyncIterator[tuple[Simulator, FakeClock, LegrandClient]]:
    """A seeded simulator without faults, and a signed-in client on its clock."""
    clock = FakeClock()
    kwargs.setdefault("plants", 4)
    kwargs.setdefault("thermostats_per_plant", 2)
    sim = Simulator.fleet(seed=11, fault_rate=0.0, clock=clock, **kwargs)
    app = sim.oauth_app()
    auth = OAuth2Auth(app, MemoryTokenStore(await sim.sign_in(app)))
    async with sim.client(auth=auth, clock=clock, retry=NO_RETRY, rng=random.Random(0)) as c:
        yield sim, clock, c
    assert not sim.faults.injected
    assert set(c.stats.statuses) <= {200, 201, 204}


def local(moment: datetime) -> datetime:
    """The naive device time the simulator keeps (its devices run on UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


# ------------------------------------------------------------------------------- Smarther

FUNCTIONS = [Function.HEATING, Function.COOLING]


def _cases() -> list[Any]:
    cases = []
    for function in FUNCTIONS:
        f = function.value
        cases += [
            pytest.param(function, "automatic", p, id=f"{f}-automatic-{p}") for p in range(12)
        ]
        cases += [
            pytest.param(function, "manual", sp, id=f"{f}-manual-{sp}")
            for sp in (3, 7.5, 19, 20.5, 21.25, 39.9, 40)
        ]
        cases += [pytest.param(function, "manual-until", 22.5, id=f"{f}-manual-until")]
        cases += [pytest.param(function, "boost", m, id=f"{f}-boost-{m}") for m in (30, 60, 90)]
        for mode in ("off", "protection"):
            cases += [
                pytest.param(function, mode, None, id=f"{f}-{mode}"),
                pytest.param(function, f"{mode}-until", None, id=f"{f}-{mode}-until"),
            ]
    return cases


@pytest.mark.asyncio
@pytest.mark.parametrize(("function", "mode", "value"), _cases())
async def test_set_status_then_get_status(function: Function, mode: str, value: Any) -> None:
    async with world() as (sim, clock, c):
        plant = sim.plants[1]
        module = plant.module_ids[1]
        until = local(clock.now() + timedelta(hours=3))
        expected_until = None
        match mode:
            case "automatic":
                status = SetStatus.automatic(value, function=function)
            case "manual":
                status = SetStatus.manual(value, function=function)
            case "manual-until":
                status = SetStatus.manual(value, until=until, function=function)
                expected_until = until
            case "boost":
                start = local(clock.now())
                status = SetStatus.boost(value, start=start, function=function)
                expected_until = start + timedelta(minutes=value)
            case "off" | "protection":
                status = getattr(SetStatus, mode)(function=function)
            case _:
                status = getattr(SetStatus, mode.removesuffix("-until"))(
                    until=until, function=function
                )
                expected_until = until
        await c.smarther.set_status(plant, module, status)
        got = await c.smarther.get_status(plant, module)
        assert (got.function, got.mode) == (status.function, status.mode)
        assert got.activation_time == expected_until
        assert (got.plant_id, got.module_id) == (plant.id, module)
        if status.mode is Mode.MANUAL:
            assert got.setpoint == value
        if status.mode is Mode.AUTOMATIC:
            assert got.programs == [value]
        # a second read says the same, and the other thermostat is untouched
        assert (await c.smarther.get_status(plant, module)).mode is status.mode
        assert (await c.smarther.get_status(plant, plant.module_ids[0])).mode is Mode.AUTOMATIC


@pytest.mark.asyncio
async def test_every_thermostat_keeps_its_own_status() -> None:
    async with world(plants=6, thermostats_per_plant=3) as (sim, _, c):
        wanted = {}
        for n, (plant, module) in enumerate((p, m) for p in sim.plants for m in p.module_ids):
            wanted[plant, module] = 5.0 + n
            await c.smarther.set_status(plant, module, SetStatus.manual(5.0 + n))
        for (plant, module), setpoint in wanted.items():
            got = await c.smarther.get_status(plant, module)
            assert (got.mode, got.setpoint) == (Mode.MANUAL, setpoint)


# ------------------------------------------------------------------------ Home + Control


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", [ModuleKind.PLUG, ModuleKind.LIGHT])
async def test_every_plug_and_light_switches_on_and_off(kind: ModuleKind) -> None:
    async with world() as (sim, _, c):
        for plant in sim.plants:
            topology = await c.home_control.get_topology(plant.hc_id)
            modules = [m.id for m in topology.all_modules if m.kind is kind]
            assert len(modules) == 3
            for on in (True, False):
                for module in modules:
                    await c.home_control.set_module_status(plant.hc_id, kind, module, on=on)
                    got = await c.home_control.get_module_status(plant.hc_id, kind, module)
                    assert (got.kind, got.module_id, got.is_on) == (kind, module, on)
                statuses = await c.home_control.get_plant_status(plant.hc_id)
                assert {s.module_id: s.is_on for s in statuses if s.kind is kind} == dict.fromkeys(
                    modules, on
                )


@pytest.mark.asyncio
async def test_ambient_plugs_switch_the_plugs_of_that_room() -> None:
    async with world() as (sim, _, c):
        plant = sim.plants[3]
        topology = await c.home_control.get_topology(plant.hc_id)
        for ambient in topology.ambients:
            for on in (True, False, True):
                await c.home_control.set_ambient_plugs(plant.hc_id, ambient.id, on=on)
                for module in ambient.modules:
                    if module.kind is ModuleKind.PLUG:
                        got = await c.home_control.get_module_status(
                            plant.hc_id, ModuleKind.PLUG, module.id
                        )
                        assert got.is_on is on
        statuses = await c.home_control.get_plant_status(plant.hc_id)
        assert all(s.is_on for s in statuses if s.kind is ModuleKind.PLUG)
        assert not any(s.is_on for s in statuses if s.kind is ModuleKind.LIGHT)


@pytest.mark.asyncio
async def test_automation_level_then_level() -> None:
    async with world() as (sim, _, c):
        plant = sim.plants[0]
        topology = await c.home_control.get_topology(plant.hc_id)
        (shutter,) = [m.id for m in topology.all_modules if m.kind is ModuleKind.AUTOMATION]
        for level in (0, 1, 37, 99, 100, 50):
            await c.home_control.set_automation_level(plant.hc_id, shutter, level)
            got = await c.home_control.get_module_status(
                plant.hc_id, ModuleKind.AUTOMATION, shutter
            )
            assert got.level == level
        await c.home_control.stop_automation(plant.hc_id, shutter)
        statuses = await c.home_control.get_plant_status(plant.hc_id)
        assert [s.level for s in statuses if s.module_id == shutter] == [50]


# --------------------------------------------------------------------------- Multisocket


@pytest.mark.asyncio
@pytest.mark.parametrize("by", ["id", "name", "type"])
async def test_socket_status_lists_round_trip(by: str) -> None:
    async with world() as (sim, _, c):
        for plant in sim.plants:
            for socket in plant.state.sockets:
                value = getattr(socket, by)
                outlets = len(socket.status)
                for pattern in (
                    [True] * outlets,
                    [False] * outlets,
                    [i % 2 == 0 for i in range(outlets)],
                ):
                    await c.multisocket.set_plugs(plant, by, value, pattern)
                    (got,) = await c.multisocket.get_plugs(plant, by, value)
                    assert (got.id, got.name, got.status) == (socket.id, socket.name, pattern)
                    for other in await c.multisocket.get_plugs(plant, "id", socket.id):
                        assert other.status == pattern  # the same socket, by another key


# ---------------------------------------------------------------------------- subscriptions


@pytest.mark.asyncio
async def test_subscriptions_round_trip() -> None:
    async with world() as (sim, _, c):
        made = {}
        for n, plant in enumerate(sim.plants):
            for k in range(3):
                url = f"https://hooks.example.org/{n}/{k}"
                made[await c.smarther.subscribe(plant, url)] = (plant.id, url)
        listed = await c.smarther.list_subscriptions()
        assert {s.subscription_id: (s.plant_id, s.endpoint_url) for s in listed} == made
        for sid, (plant, _) in list(made.items())[::2]:
            await c.smarther.unsubscribe(plant, sid)
            del made[sid]
        listed = await c.smarther.list_subscriptions()
        assert {s.subscription_id: (s.plant_id, s.endpoint_url) for s in listed} == made
        for sid, (plant, _) in made.items():
            await c.smarther.unsubscribe(plant, sid)
        assert await c.smarther.list_subscriptions() == []
