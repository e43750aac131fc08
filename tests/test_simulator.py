"""The simulator, driven by the real client: every route, state that sticks, the gateway's
limits, the OAuth server, seeded faults, C2C delivery and the fleet generator.

Time is a FakeClock shared by the client and the simulator wherever it matters, and retry
policies never wait, so nothing here sleeps for real (except the two loopback tests).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from legrand_async import (
    AuthError,
    AuthorizationCodeExpired,
    CallHomeTicket,
    ChronothermostatStatus,
    ClientSecretExpired,
    Conflict,
    DeviceBusy,
    Function,
    LegrandClient,
    LegrandError,
    LoadState,
    Measures,
    MemoryTokenStore,
    Mode,
    ModuleKind,
    ModuleStatus,
    NotAcceptable,
    NotFound,
    OAuth2Auth,
    OAuthApp,
    Plant,
    Program,
    QuotaExhausted,
    RateLimited,
    ReauthorizationRequired,
    RequestTimeout,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    SetStatus,
    SocketPlug,
    Subscription,
    Token,
    Topology,
    TransportError,
    Unauthorized,
)
from legrand_async._converters import make_converter, structure
from legrand_async._responses import error_from_response
from legrand_async._routes import ROUTES, route
from legrand_async.models import home_control as hc
from legrand_async.simulator import BASE_URL, Simulator

from .conftest import FakeClock, load, through_the_stack

NO_WAIT = RetryPolicy(initial_delay=0, max_delay=0, jitter=0)
ONCE = RetryPolicy(max_attempts=1)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
HOOK = "https://receiver.example.org/legrand/hook"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def make(**kwargs: Any) -> tuple[Simulator, FakeClock]:
    """A small seeded simulator on a fake clock."""
    clock = FakeClock()
    kwargs.setdefault("plants", 3)
    kwargs.setdefault("thermostats_per_plant", 2)
    kwargs.setdefault("seed", 0)
    return Simulator.fleet(clock=clock, **kwargs), clock


def client(
    sim: Simulator, clock: FakeClock, retry: RetryPolicy = NO_WAIT, **kwargs: Any
) -> LegrandClient:
    """The real client, wired to ``sim``, on the same clock, with a seeded jitter."""
    return sim.client(clock=clock, retry=retry, rng=random.Random(0), **kwargs)


def naive(moment: datetime) -> datetime:
    """The device-local time the simulator reads (its devices live in UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def hc_module(plant: Any, kind: str, ambient: int = 0) -> str:
    """The id of the first Home + Control module of ``kind`` in one of the plant's rooms."""
    return next(m.id for m in plant.state.ambients[ambient][3] if m.kind == kind)


def hc_ambient(plant: Any, index: int = 0) -> str:
    return str(plant.state.ambients[index][0])


def socket(plant: Any, name: str) -> Any:
    return next(s for s in plant.state.sockets if s.name == name)


@asynccontextmanager
async def signed_in(
    sim: Simulator, clock: FakeClock, retry: RetryPolicy = NO_WAIT
) -> AsyncIterator[LegrandClient]:
    """A client that signed in (OAuth2Auth): it outlives the one-hour access token."""
    app = sim.oauth_app()
    auth = OAuth2Auth(app, MemoryTokenStore(await sim.sign_in(app)))
    async with client(sim, clock, retry, auth=auth) as c:
        yield c


@asynccontextmanager
async def raw(sim: Simulator, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain httpx into the simulator, with a valid key and token unless ``headers`` override."""
    sent = {
        "Ocp-Apim-Subscription-Key": sim.subscription_key,
        "Authorization": f"Bearer {sim.access_token()}",
        **headers,
    }
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=BASE_URL, headers=sent
    ) as http:
        yield http


def chrono_path(plant: str, module: str) -> str:
    return route("smarther", "set_status").render_path((plant, module))


# ------------------------------------------------------------------------------ every route


class Recipe(NamedTuple):
    """One call of one route through the client, and the type its result must have."""

    call: Callable[[LegrandClient, Any], Awaitable[Any]]
    check: Callable[[Any], bool]


def _list_of(kind: type) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, list) and all(isinstance(r, kind) for r in result)


def _nonempty_list_of(kind: type) -> Callable[[Any], bool]:
    return lambda result: bool(result) and _list_of(kind)(result)


def _is(kind: type) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, kind)


def _none(result: Any) -> bool:
    return result is None


async def _unsubscribe(c: LegrandClient, p: Any) -> None:
    sid = await c.smarther.subscribe(p, HOOK + "/to-delete")
    await c.smarther.unsubscribe(p, sid)
    assert sid not in {s.subscription_id for s in await c.smarther.list_subscriptions()}


async def _list_subscriptions(c: LegrandClient, p: Any) -> list[Subscription]:
    await c.smarther.subscribe(p, HOOK + "/listed")
    return await c.smarther.list_subscriptions()


async def _run_scene(c: LegrandClient, p: Any) -> None:
    scenes = await c.home_control.list_scenes(p.hc_id)
    await c.home_control.run_scene(p.hc_id, str(scenes[0].id))


RECIPES: dict[tuple[str, str], Recipe] = {
    ("smarther", "list_plants"): Recipe(
        lambda c, p: c.smarther.list_plants(), _nonempty_list_of(Plant)
    ),
    ("smarther", "get_topology"): Recipe(lambda c, p: c.smarther.get_topology(p), _is(Topology)),
    ("smarther", "get_status"): Recipe(
        lambda c, p: c.smarther.get_status(p, p.module_ids[0]), _is(ChronothermostatStatus)
    ),
    ("smarther", "set_status"): Recipe(
        lambda c, p: c.smarther.set_status(p, p.module_ids[0], SetStatus.manual(21.5)), _none
    ),
    ("smarther", "get_measures"): Recipe(
        lambda c, p: c.smarther.get_measures(p, p.module_ids[0]), _is(Measures)
    ),
    ("smarther", "get_programs"): Recipe(
        lambda c, p: c.smarther.get_programs(p, p.module_ids[0]), _nonempty_list_of(Program)
    ),
    ("smarther", "list_subscriptions"): Recipe(
        _list_subscriptions, _nonempty_list_of(Subscription)
    ),
    ("smarther", "subscribe"): Recipe(
        lambda c, p: c.smarther.subscribe(p, HOOK),
        lambda result: isinstance(result, str) and bool(UUID.fullmatch(result)),
    ),
    ("smarther", "unsubscribe"): Recipe(_unsubscribe, _none),
    ("home_control", "list_plants"): Recipe(
        lambda c, p: c.home_control.list_plants(), _nonempty_list_of(hc.Plant)
    ),
    ("home_control", "get_topology"): Recipe(
        lambda c, p: c.home_control.get_topology(p.hc_id), _is(hc.Topology)
    ),
    ("home_control", "get_plant_status"): Recipe(
        lambda c, p: c.home_control.get_plant_status(p.hc_id), _nonempty_list_of(ModuleStatus)
    ),
    ("home_control", "get_module_status"): Recipe(
        lambda c, p: c.home_control.get_module_status(
            p.hc_id, ModuleKind.PLUG, hc_module(p, "plug")
        ),
        _is(ModuleStatus),
    ),
    ("home_control", "set_module_status"): Recipe(
        lambda c, p: c.home_control.set_module_status(
            p.hc_id, ModuleKind.LIGHT, hc_module(p, "light"), on=True
        ),
        _none,
    ),
    ("home_control", "set_ambient_plugs"): Recipe(
        lambda c, p: c.home_control.set_ambient_plugs(p.hc_id, hc_ambient(p), on=True), _none
    ),
    ("home_control", "set_automation_level"): Recipe(
        lambda c, p: c.home_control.set_automation_level(p.hc_id, hc_module(p, "automation"), 40),
        _none,
    ),
    ("home_control", "stop_automation"): Recipe(
        lambda c, p: c.home_control.stop_automation(p.hc_id, hc_module(p, "automation")), _none
    ),
    ("home_control", "list_scenes"): Recipe(
        lambda c, p: c.home_control.list_scenes(p.hc_id), _nonempty_list_of(hc.Scene)
    ),
    ("home_control", "run_scene"): Recipe(_run_scene, _none),
    ("multisocket", "get_plugs"): Recipe(
        lambda c, p: c.multisocket.get_plugs(p, "type", "multisocket"),
        _nonempty_list_of(SocketPlug),
    ),
    ("multisocket", "set_plugs"): Recipe(
        lambda c, p: c.multisocket.set_plugs(p, "id", socket(p, "Lamp").id, True), _none
    ),
    ("door_entry", "call_home"): Recipe(
        lambda c, p: c.door_entry.call_home(p, p.door_units[0]),
        _nonempty_list_of(CallHomeTicket),
    ),
}


def test_every_route_has_a_recipe() -> None:
    assert set(RECIPES) == {(r.family, r.name) for r in ROUTES}


@pytest.mark.asyncio
@pytest.mark.parametrize("route_", ROUTES, ids=lambda r: f"{r.family}.{r.name}")
async def test_every_route_answers_through_the_client(route_: Any) -> None:
    sim, clock = make()
    recipe = RECIPES[route_.family, route_.name]
    async with client(sim, clock, ONCE) as c:
        result = await recipe.call(c, sim.plants[1])
        assert recipe.check(result), result
        assert c.stats.statuses.keys() <= {200, 201, 204}


# ------------------------------------------------------------------------------ the fleet


def _fingerprint(sim: Simulator) -> list[Any]:
    return [
        (
            p.id,
            p.name,
            [(t.id, t.name, t.setpoint, t.program) for t in p.thermostats],
            p.hc_id,
            p.door_units,
            [(s.id, s.name) for s in p.state.sockets],
        )
        for p in sim.plants
    ]


def test_the_fleet_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    a = Simulator.fleet(plants=50, thermostats_per_plant=2, seed=0)
    b = Simulator.fleet(plants=50, thermostats_per_plant=2, seed=0)
    other = Simulator.fleet(plants=50, thermostats_per_plant=2, seed=1)
    assert _fingerprint(a) == _fingerprint(b)
    assert (a.subscription_key, a.client_id, a.client_secret) == (
        b.subscription_key,
        b.client_id,
        b.client_secret,
    )
    assert {p.id for p in a.plants}.isdisjoint({p.id for p in other.plants})
    assert [p.module_ids for p in a.plants] != [p.module_ids for p in other.plants]
    assert a.subscription_key != other.subscription_key
    assert len({p.id for p in a.plants}) == 50
    assert len({m for p in a.plants for m in p.module_ids}) == 100


def test_a_plant_is_its_id_with_details() -> None:
    sim = Simulator.fleet(plants=50, thermostats_per_plant=2, seed=0)
    plant = sim.plants[7]
    assert isinstance(plant, str)
    assert plant == plant.id
    assert f"{plant}" == plant.id
    assert UUID.fullmatch(plant.id)
    assert plant.name
    assert len(plant.thermostats) == 2
    assert plant.module_ids == [t.id for t in plant.thermostats]
    assert all(UUID.fullmatch(m) for m in plant.module_ids)
    assert all(t.plant_id == plant.id for t in plant.thermostats)
    assert re.fullmatch(r"[0-9a-f]{21}", plant.hc_id)
    assert len(plant.door_units) == 1
    assert UUID.fullmatch(plant.door_units[0])
    assert {plant: 1}[plant.id] == 1  # usable as a dict key and as a path argument


def test_fleet_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        Simulator.fleet(plants=-1)
    with pytest.raises(ValueError, match="probability"):
        Simulator.fleet(fault_rate=1.5)


@pytest.mark.asyncio
async def test_the_api_serves_the_fleet() -> None:
    sim, clock = make(plants=50, thermostats_per_plant=2)
    async with client(sim, clock) as c:
        plants = await c.smarther.list_plants()
        assert [(p.id, p.name) for p in plants] == [(p.id, p.name) for p in sim.plants]
        plant = sim.plants[42]
        topology = await c.smarther.get_topology(plant)
        assert topology.id == plant.id
        assert topology.name == plant.name
        assert [m.id for m in topology.modules] == plant.module_ids
        assert {m.device for m in topology.modules} == {"chronothermostat"}
        hc_plants = await c.home_control.list_plants()
        assert [p.id for p in hc_plants] == [p.hc_id for p in sim.plants]
        status = await c.smarther.get_status(plant, plant.module_ids[1])
        assert (status.plant_id, status.module_id) == (plant.id, plant.module_ids[1])
        assert status.temperature is not None
        assert 30 <= (status.humidity or 0) <= 80


@pytest.mark.asyncio
async def test_no_plants_and_no_subscriptions_are_empty_lists() -> None:
    sim, clock = make(plants=0)
    async with client(sim, clock) as c:
        assert await c.smarther.list_plants() == []
        assert await c.smarther.list_subscriptions() == []
        assert c.stats.statuses[204] == 2


# ------------------------------------------------------------------------- Smarther state


@pytest.mark.asyncio
async def test_set_status_round_trips_in_every_mode() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    module = plant.module_ids[0]
    async with client(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.manual(22.5))
        status = await c.smarther.get_status(plant, module)
        assert (status.function, status.mode, status.setpoint) == (
            Function.HEATING,
            Mode.MANUAL,
            22.5,
        )
        assert status.activation_time is None

        await c.smarther.set_status(plant, module, SetStatus.automatic(3))
        status = await c.smarther.get_status(plant, module)
        assert (status.mode, status.programs) == (Mode.AUTOMATIC, [3])

        await c.smarther.set_status(plant, module, SetStatus.off())
        status = await c.smarther.get_status(plant, module)
        assert status.mode is Mode.OFF
        assert status.load_state is LoadState.INACTIVE

        await c.smarther.set_status(plant, module, SetStatus.protection())
        assert (await c.smarther.get_status(plant, module)).mode is Mode.PROTECTION

        await c.smarther.set_status(plant, module, SetStatus.manual(18, function=Function.COOLING))
        status = await c.smarther.get_status(plant, module)
        assert (status.function, status.mode, status.setpoint) == (
            Function.COOLING,
            Mode.MANUAL,
            18.0,
        )

        start = naive(clock.now())
        await c.smarther.set_status(plant, module, SetStatus.boost(60, start=start))
        status = await c.smarther.get_status(plant, module)
        assert (status.function, status.mode) == (Function.HEATING, Mode.BOOST)
        assert status.activation_time == start + timedelta(minutes=60)
        assert status.load_state is LoadState.ACTIVE  # boost heats to 30 °C

        # the other thermostat of the plant was left alone
        other = await c.smarther.get_status(plant, plant.module_ids[1])
        assert other.mode is Mode.AUTOMATIC


@pytest.mark.asyncio
async def test_a_boost_ends_after_its_minutes_and_the_previous_mode_comes_back() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    module = plant.module_ids[0]
    async with client(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.manual(21.5))
        start = naive(clock.now())
        await c.smarther.set_status(plant, module, SetStatus.boost(30, start=start))
        status = await c.smarther.get_status(plant, module)
        assert status.mode is Mode.BOOST
        assert status.activation_time == start + timedelta(minutes=30)

        clock.advance(29 * 60)
        assert (await c.smarther.get_status(plant, module)).mode is Mode.BOOST

        clock.advance(2 * 60)  # 31 minutes after the boost began
        status = await c.smarther.get_status(plant, module)
        assert (status.mode, status.setpoint) == (Mode.MANUAL, 21.5)
        assert status.activation_time is None


@pytest.mark.asyncio
async def test_a_boost_on_a_boost_still_ends_in_the_mode_before_both() -> None:
    sim, clock = make()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with signed_in(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.automatic(4))
        await c.smarther.set_status(plant, module, SetStatus.boost(30, start=naive(clock.now())))
        clock.advance(10 * 60)
        await c.smarther.set_status(plant, module, SetStatus.boost(90, start=naive(clock.now())))
        clock.advance(89 * 60)
        assert (await c.smarther.get_status(plant, module)).mode is Mode.BOOST
        clock.advance(2 * 60)
        status = await c.smarther.get_status(plant, module)
        assert (status.mode, status.programs) == (Mode.AUTOMATIC, [4])


@pytest.mark.asyncio
async def test_a_boost_in_the_other_function_gives_the_function_back() -> None:
    sim, clock = make()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with client(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.automatic(1))
        boost = SetStatus.boost(30, start=naive(clock.now()), function=Function.COOLING)
        await c.smarther.set_status(plant, module, boost)
        clock.advance(31 * 60)
        status = await c.smarther.get_status(plant, module)
        assert (status.function, status.mode) == (Function.HEATING, Mode.AUTOMATIC)


@pytest.mark.asyncio
async def test_manual_until_ends_at_until() -> None:
    sim, clock = make()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with signed_in(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.automatic(2))
        until = naive(clock.now() + timedelta(hours=2))
        await c.smarther.set_status(plant, module, SetStatus.manual(23, until=until))
        status = await c.smarther.get_status(plant, module)
        assert (status.mode, status.setpoint, status.activation_time) == (
            Mode.MANUAL,
            23.0,
            until,
        )
        clock.advance(2 * 3600 - 1)
        assert (await c.smarther.get_status(plant, module)).mode is Mode.MANUAL
        clock.advance(1)
        status = await c.smarther.get_status(plant, module)
        assert (status.mode, status.programs, status.activation_time) == (
            Mode.AUTOMATIC,
            [2],
            None,
        )


@pytest.mark.asyncio
async def test_off_and_protection_with_until_end_too() -> None:
    sim, clock = make()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with signed_in(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.manual(20))
        for timed in (SetStatus.off, SetStatus.protection):
            until = naive(clock.now() + timedelta(minutes=45))
            await c.smarther.set_status(plant, module, timed(until=until))
            status = await c.smarther.get_status(plant, module)
            assert status.activation_time == until
            clock.advance(45 * 60)
            status = await c.smarther.get_status(plant, module)
            assert (status.mode, status.setpoint) == (Mode.MANUAL, 20.0)


@pytest.mark.asyncio
async def test_measures_and_programs_follow_the_thermostat() -> None:
    sim, clock = make()
    plant = sim.plants[2]
    thermostat = plant.thermostats[1]
    async with client(sim, clock) as c:
        programs = await c.smarther.get_programs(plant, thermostat.id)
        assert [(p.number, p.name) for p in programs] == thermostat.programs
        measures = await c.smarther.get_measures(plant, thermostat.id)
        status = await c.smarther.get_status(plant, thermostat.id)
        assert measures.temperature == status.temperature
        assert measures.humidity == status.humidity
        assert measures.thermometer.latest is not None
        assert measures.thermometer.latest.timestamp == clock.now()
        clock.advance(6 * 3600)
    async with client(sim, clock) as c:
        later = await c.smarther.get_measures(plant, thermostat.id)
        assert later.temperature != measures.temperature  # the room's daily wave


@pytest.mark.asyncio
async def test_invalid_set_status_bodies_get_400_or_430_in_the_smarther_format() -> None:
    sim, _ = make()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    path = chrono_path(plant, module)
    cases: list[tuple[Any, int]] = [
        ("not json", 400),
        ({}, 400),
        ({"function": "heating"}, 400),
        ({"mode": "manual"}, 400),
        ({"function": "warming", "mode": "manual"}, 400),
        ({"function": "heating", "mode": "turbo"}, 400),
        ([1, 2], 400),
        ({"function": "heating", "mode": "manual"}, 430),
        ({"function": "heating", "mode": "manual", "setPoint": {"value": "2.5"}}, 430),
        ({"function": "heating", "mode": "manual", "setPoint": {"value": "40.5"}}, 430),
        ({"function": "heating", "mode": "manual", "setPoint": {"value": "warm"}}, 430),
        ({"function": "heating", "mode": "automatic"}, 430),
        ({"function": "heating", "mode": "automatic", "programs": []}, 430),
        ({"function": "heating", "mode": "automatic", "programs": [{"number": 12}]}, 430),
        ({"function": "heating", "mode": "boost"}, 430),
        (
            {
                "function": "heating",
                "mode": "boost",
                "activationTime": "2026-11-21T12:00:00/2026-11-21T12:45:00",
            },
            430,
        ),
        ({"function": "heating", "mode": "off", "activationTime": "tomorrow"}, 430),
    ]
    async with raw(sim) as http:
        for body, expected in cases:
            content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            response = await http.post(path, content=content)
            assert response.status_code == expected, body
            message = "Bad request" if expected == 400 else "Wrong input parameters"
            assert response.json() == {"statusCode": expected, "message": message}
        # the documented lower case, a number for the setpoint: both accepted
        ok = {"function": "heating", "mode": "manual", "setPoint": {"value": 21, "unit": "C"}}
        assert (await http.post(path, json=ok)).status_code == 200
    assert (await _status_wire(sim, plant, module))["setPoint"]["value"] == "21.00000"


async def _status_wire(sim: Simulator, plant: str, module: str) -> dict[str, Any]:
    async with raw(sim) as http:
        response = await http.get(chrono_path(plant, module))
    assert response.status_code == 200
    status: dict[str, Any] = response.json()["chronothermostats"][0]
    return status


@pytest.mark.asyncio
async def test_the_status_is_in_the_wire_format() -> None:
    sim, _ = make()
    plant = sim.plants[0]
    status = await _status_wire(sim, plant, plant.module_ids[0])
    fixture = load("smarther_status.json")["chronothermostats"][0]
    assert status["function"] in ("HEATING", "COOLING")
    assert status["mode"] == "AUTOMATIC"
    assert isinstance(status["setPoint"]["value"], str)
    assert isinstance(status["programs"][0]["number"], int)
    assert status["sender"]["addressType"] == "addressLocation"
    assert set(status) <= set(fixture) | {"activationTime", "online", "receiver"}
    structure(status, ChronothermostatStatus, converter=make_converter(strict=True))


@pytest.mark.asyncio
async def test_subscriptions_are_real_and_a_duplicate_url_is_a_conflict() -> None:
    sim, clock = make()
    a, b = sim.plants[0], sim.plants[1]
    async with client(sim, clock, ONCE) as c:
        assert await c.smarther.list_subscriptions() == []
        first = await c.smarther.subscribe(a, HOOK)
        second = await c.smarther.subscribe(b, HOOK + "/b")
        listed = await c.smarther.list_subscriptions()
        assert {(s.plant_id, s.subscription_id, s.endpoint_url) for s in listed} == {
            (a.id, first, HOOK),
            (b.id, second, HOOK + "/b"),
        }
        with pytest.raises(Conflict) as conflict:
            await c.smarther.subscribe(a, HOOK)
        assert conflict.value.status_code == 409
        assert conflict.value.body == {"statusCode": 409, "message": "Subscription already exists"}
        await c.smarther.unsubscribe(a, first)
        assert [s.subscription_id for s in await c.smarther.list_subscriptions()] == [second]
        with pytest.raises(NotFound):
            await c.smarther.unsubscribe(a, first)
        assert await c.smarther.subscribe(a, HOOK) not in (first, second)
    async with raw(sim) as http:
        response = await http.post(
            f"/smarther/v2.0/plants/{a}/subscription", json={"EndPointUrl": "http://plain.example"}
        )
        assert response.status_code == 400  # https only
        assert response.json() == {"statusCode": 400, "message": "Bad request"}


@pytest.mark.asyncio
async def test_smarther_and_door_entry_errors_use_the_status_code_format() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    async with client(sim, clock, ONCE) as c:
        for call in (
            c.smarther.get_topology(UNKNOWN),
            c.smarther.get_status(plant, UNKNOWN),
            c.smarther.get_measures(UNKNOWN, plant.module_ids[0]),
            c.smarther.set_status(plant, UNKNOWN, SetStatus.off()),
            c.door_entry.call_home(plant, UNKNOWN),
            c.door_entry.call_home(UNKNOWN, plant.door_units[0]),
        ):
            with pytest.raises(NotFound) as error:
                await call
            assert error.value.body == {"statusCode": 404, "message": "Resource not found"}
            assert error.value.message == "Resource not found"


# ---------------------------------------------------------------------- Home + Control state


@pytest.mark.asyncio
async def test_switching_plugs_and_lights_shows_in_module_and_plant_status() -> None:
    sim, clock = make()
    plant = sim.plants[1]
    plug, light = hc_module(plant, "plug", 1), hc_module(plant, "light", 2)
    async with client(sim, clock) as c:
        for on in (True, False, True):
            await c.home_control.set_module_status(plant.hc_id, ModuleKind.PLUG, plug, on=on)
            await c.home_control.set_module_status(plant.hc_id, ModuleKind.LIGHT, light, on=not on)
            status = await c.home_control.get_module_status(plant.hc_id, ModuleKind.PLUG, plug)
            assert (status.kind, status.module_id, status.is_on) == (ModuleKind.PLUG, plug, on)
            assert (status.power_w or 0) > 0 if on else status.power_w == 0
            status = await c.home_control.get_module_status(plant.hc_id, ModuleKind.LIGHT, light)
            assert (status.kind, status.is_on) == (ModuleKind.LIGHT, not on)
            statuses = {s.module_id: s for s in await c.home_control.get_plant_status(plant.hc_id)}
            assert statuses[plug].is_on is on
            assert statuses[light].is_on is (not on)
            assert statuses[plug].kind is ModuleKind.PLUG
        # another plant is untouched
        other = sim.plants[2]
        statuses = await c.home_control.get_plant_status(other.hc_id)
        assert not any(s.is_on for s in statuses)


@pytest.mark.asyncio
async def test_ambient_plugs_automation_level_and_scenes() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    shutter = hc_module(plant, "automation")
    async with client(sim, clock) as c:
        topology = await c.home_control.get_topology(plant.hc_id)
        kitchen = topology.ambients[0]
        await c.home_control.set_ambient_plugs(plant.hc_id, kitchen.id, on=True)
        statuses = {s.module_id: s for s in await c.home_control.get_plant_status(plant.hc_id)}
        for module in topology.all_modules:
            expected = module.kind is ModuleKind.PLUG and module in kitchen.modules
            assert bool(statuses[module.id].is_on) is expected, module

        await c.home_control.set_automation_level(plant.hc_id, shutter, 65)
        status = await c.home_control.get_module_status(plant.hc_id, ModuleKind.AUTOMATION, shutter)
        assert (status.kind, status.level) == (ModuleKind.AUTOMATION, 65)
        await c.home_control.stop_automation(plant.hc_id, shutter)  # level -1: stays put
        status = await c.home_control.get_module_status(plant.hc_id, ModuleKind.AUTOMATION, shutter)
        assert status.level == 65

        lights = [m.id for m in topology.all_modules if m.kind is ModuleKind.LIGHT]
        for light in lights:
            await c.home_control.set_module_status(plant.hc_id, ModuleKind.LIGHT, light, on=True)
        scenes = await c.home_control.list_scenes(plant.hc_id)
        assert [s.name for s in scenes] == ["Good night", "Leaving"]
        await c.home_control.run_scene(plant.hc_id, str(scenes[0].id))
        statuses = {s.module_id: s for s in await c.home_control.get_plant_status(plant.hc_id)}
        assert all(statuses[light].is_on is False for light in lights)
        assert statuses[hc_module(plant, "plug")].is_on is True  # plugs are not lights


@pytest.mark.asyncio
async def test_home_control_errors_use_the_errors_format_and_map_to_the_classes() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    plug = hc_module(plant, "plug")
    async with client(sim, clock, ONCE) as c:
        calls = [
            c.home_control.get_module_status(
                plant.hc_id, ModuleKind.PLUG, "ffffffffffffffffffffff"
            ),
            c.home_control.get_module_status(plant.hc_id, ModuleKind.LIGHT, plug),  # wrong kind
            c.home_control.get_topology("0" * 21),
            c.home_control.get_plant_status("0" * 21),
            c.home_control.set_ambient_plugs(plant.hc_id, "0" * 21, on=True),
            c.home_control.run_scene(plant.hc_id, "0" * 16),
            c.home_control.set_automation_level(plant.hc_id, plug, 10),
        ]
        for call in calls:
            with pytest.raises(NotFound) as error:
                await call
            assert error.value.status_code == 404
            assert error.value.body == {
                "errors": [
                    {"userMessage": "Not found", "internalMessage": "Not found", "code": 404}
                ]
            }
            assert error.value.message == "Not found"
            assert error.value.code == 404
    shutter = hc_module(plant, "automation")
    automation = route("home_control", "set_automation_level").render_path((plant.hc_id, shutter))
    switch = route("home_control", "set_module_status").render_path(
        (plant.hc_id, ModuleKind.PLUG, plug)
    )
    async with raw(sim) as http:
        response = await http.post(automation, json={"level": 150})
        assert response.status_code == 406
        assert response.json()["errors"][0]["code"] == 406
        response = await http.post(switch, json={"status": "maybe"})
        assert response.status_code == 400
        assert response.json()["errors"][0]["userMessage"] == "Invalid arguments"
        response = await http.post(switch, json={"status": "on"})
        assert (response.status_code, response.text) == (200, "Status changed successfully")
    request = httpx.Request("POST", f"{BASE_URL}{automation}")
    answer = httpx.Response(406, json={"errors": [{"userMessage": "x", "code": 406}]})
    error = error_from_response(await through_the_stack(request, answer), attempts=1)
    assert isinstance(error, NotAcceptable)


# ------------------------------------------------------------------------------ Multisocket


@pytest.mark.asyncio
async def test_multisocket_set_then_get_by_id_name_and_type() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    tv, lamp = socket(plant, "Living Room/TV"), socket(plant, "Lamp")
    async with client(sim, clock) as c:
        await c.multisocket.set_plugs(plant, "id", tv.id, [False, True, False])
        (got,) = await c.multisocket.get_plugs(plant, "id", tv.id)
        assert (got.id, got.name, got.status) == (tv.id, tv.name, [False, True, False])
        await c.multisocket.set_plugs(plant, "name", "Living Room/TV", True)  # every outlet
        (got,) = await c.multisocket.get_plugs(plant, "name", "Living Room/TV")
        assert got.status == [True, True, True]
        await c.multisocket.set_plugs(plant, "type", "wifi", True)
        (got,) = await c.multisocket.get_plugs(plant, "type", "wifi")
        assert (got.id, got.status, got.is_on) == (lamp.id, [True], True)


@pytest.mark.asyncio
async def test_multisocket_errors_are_text() -> None:
    sim, clock = make()
    plant = sim.plants[0]
    async with client(sim, clock, ONCE) as c:
        with pytest.raises(NotFound) as error:
            await c.multisocket.get_plugs(plant, "name", "No such socket")
        assert (error.value.message, error.value.body) == (
            "No Plug were found.",
            "No Plug were found.",
        )
        with pytest.raises(NotFound) as error:
            await c.multisocket.set_plugs(UNKNOWN, "type", "wifi", True)
        assert error.value.message == "The plant identified by 'plantId' does not exist."
    path = route("multisocket", "set_plugs").render_path((plant, "type", "wifi"))
    async with raw(sim) as http:
        response = await http.post(path, json={})
        assert (response.status_code, response.text) == (400, "A parameter is missing")
        for status in (True, [], [1]):
            response = await http.post(path, json={"status": status})
            assert (response.status_code, response.text) == (
                400,
                "One of the specified parameter should be an array",
            )
            assert response.headers["content-type"].startswith("text/plain")


# ------------------------------------------------------------------------------- door entry


@pytest.mark.asyncio
async def test_a_door_entry_ticket_expires_five_minutes_after_the_sim_clock() -> None:
    sim, clock = make()
    clock.advance(123.0)
    plant = sim.plants[2]
    async with client(sim, clock) as c:
        (ticket,) = await c.door_entry.call_home(plant, plant.door_units[0])
    assert ticket.plant_id == plant.id
    assert ticket.sender is not None
    assert (ticket.sender.address_type, ticket.sender.system) == (
        "addressLocation",
        "videodoorentry",
    )
    assert ticket.expires_at == clock.now() + timedelta(minutes=5)


# ---------------------------------------------------------------------------------- gateway


class _StripKey(httpx.AsyncBaseTransport):
    """Takes the subscription key off every request, as a misconfigured proxy would."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport) -> None:
        self._wrapped = wrapped

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        del request.headers["Ocp-Apim-Subscription-Key"]
        return await self._wrapped.handle_async_request(request)


@pytest.mark.asyncio
async def test_a_missing_or_wrong_subscription_key_is_unauthorized() -> None:
    sim, clock = make()
    async with client(sim, clock, ONCE, transport=_StripKey(sim.transport())) as c:
        with pytest.raises(Unauthorized) as missing:
            await c.smarther.list_plants()
    assert missing.value.message == (
        "Access denied due to missing subscription key. "
        "Make sure to provide a valid key for an active subscription."
    )
    async with LegrandClient(
        "not-the-key",
        access_token=sim.access_token(),
        base_url=BASE_URL,
        transport=sim.transport(),
        retry=ONCE,
    ) as c:
        with pytest.raises(Unauthorized) as wrong:
            await c.home_control.list_plants()
    assert wrong.value.message.startswith("Access denied due to invalid subscription key.")
    assert wrong.value.body["statusCode"] == 401
    assert "not-the-key" not in str(wrong.value)
    async with raw(sim, **{"Ocp-Apim-Subscription-Key": "nope"}) as http:
        response = await http.get(
            "/multioutlet/plug/energy/addressLocation/plants/x/parameter/id/value/y"
        )
        assert response.status_code == 401
    assert sim.calls_today == 0


@pytest.mark.asyncio
async def test_a_missing_or_expired_token_is_unauthorized() -> None:
    sim, clock = make()
    async with LegrandClient(
        sim.subscription_key, base_url=BASE_URL, transport=sim.transport(), retry=ONCE
    ) as c:
        with pytest.raises(Unauthorized) as missing:
            await c.smarther.list_plants()
    assert missing.value.message == "Unauthorized. Access token is missing or invalid."
    async with client(sim, clock, ONCE) as c:
        await c.smarther.list_plants()
        clock.advance(3599)
        await c.smarther.list_plants()
        clock.advance(2)  # the access token lived an hour
        with pytest.raises(Unauthorized) as expired:
            await c.smarther.list_plants()
    assert expired.value.message == "Unauthorized. Access token is missing or invalid."
    async with client(sim, clock, ONCE, access_token="made-up") as c:
        with pytest.raises(Unauthorized):
            await c.door_entry.call_home(sim.plants[0], sim.plants[0].door_units[0])


@pytest.mark.asyncio
async def test_the_per_second_rate_limit_answers_429_with_retry_after() -> None:
    sim, clock = make(per_second=2)
    async with client(sim, clock, ONCE) as c:
        await c.smarther.list_plants()
        await c.smarther.list_plants()
        with pytest.raises(RateLimited) as limited:
            await c.smarther.list_plants()
    assert limited.value.status_code == 429
    assert limited.value.retry_after == 1.0
    assert limited.value.message == "Rate limit is exceeded. Try again in 1 seconds."
    assert limited.value.body == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 1 seconds.",
    }
    async with raw(sim) as http:
        response = await http.get("/smarther/v2.0/plants")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    clock.advance(1)  # a new second, a new window
    async with client(sim, clock, ONCE) as c:
        assert len(await c.smarther.list_plants()) == 3


@pytest.mark.asyncio
async def test_the_client_waits_out_the_rate_limit_and_succeeds() -> None:
    sim, clock = make(per_second=2)
    async with client(sim, clock) as c:
        results = [await c.home_control.list_plants() for _ in range(5)]
    assert all(len(r) == 3 for r in results)
    assert clock.sleeps == [1.0, 1.0]  # the third and the fifth call waited a second
    assert c.stats.retries == {"429": 2}
    assert c.stats.statuses == {200: 5, 429: 2}


@pytest.mark.asyncio
async def test_the_daily_quota_answers_403_until_the_next_utc_midnight() -> None:
    sim, clock = make(per_day=3)
    async with client(sim, clock) as c:
        for _ in range(3):
            await c.smarther.list_plants()
        assert sim.calls_today == 3
        with pytest.raises(QuotaExhausted) as quota:
            await c.multisocket.get_plugs(sim.plants[0], "type", "wifi")
        assert c.stats.attempts == 4  # a 403 is not retried
    assert quota.value.status_code == 403
    assert quota.value.message == (
        "Out of call volume quota. Quota will be replenished in 12:00:00."
    )
    assert quota.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
    assert sim.calls_today == 3

    clock.advance(12 * 3600 - 1)  # one second before midnight: still spent
    async with client(sim, clock, ONCE) as c:
        with pytest.raises(QuotaExhausted) as quota:
            await c.smarther.list_plants()
        assert quota.value.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
        clock.advance(1)  # midnight UTC on the simulator's clock
        assert len(await c.smarther.list_plants()) == 3
    assert sim.calls_today == 1


@pytest.mark.asyncio
async def test_the_quota_is_back_when_the_quota_text_says() -> None:
    sim, clock = make(per_day=1)
    clock.advance(0.5)
    async with client(sim, clock, ONCE) as c:
        await c.smarther.list_plants()
        with pytest.raises(QuotaExhausted) as quota:
            await c.smarther.list_plants()
    assert quota.value.resets_at is not None
    clock.advance((quota.value.resets_at - clock.now()).total_seconds())
    async with client(sim, clock, ONCE) as c:
        assert await c.smarther.list_plants()


# ------------------------------------------------------------------------------------ OAuth


@pytest.mark.asyncio
async def test_authorize_redirects_with_a_code_and_the_given_state() -> None:
    sim, _ = make()
    app = sim.oauth_app()
    url, state = app.authorization_url(state="my-state-123")
    assert state == "my-state-123"
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        response = await http.get(url)
        assert response.status_code == 302
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == sim.redirect_uri
        query = parse_qs(location.query)
        assert query["state"] == ["my-state-123"]
        assert query["code"][0]
        bad = await http.get(url.replace(sim.client_id, "someone-else"))
        assert bad.status_code == 400
        assert bad.json() == {"message": "Internal error", "code": 1}


@pytest.mark.asyncio
async def test_sign_in_gives_a_token_that_works() -> None:
    sim, clock = make()
    token = await sim.sign_in()
    assert isinstance(token, Token)
    assert token.expires_at == clock.now() + timedelta(hours=1)
    async with client(sim, clock, access_token=token.access_token) as c:
        assert len(await c.smarther.list_plants()) == 3


@pytest.mark.asyncio
async def test_a_wrong_client_secret_is_refused() -> None:
    sim, clock = make()
    app = OAuthApp(
        sim.client_id,
        "not-the-secret",
        sim.redirect_uri,
        auth_url=sim.base_url,
        transport=sim.transport(),
        clock=clock,
    )
    with pytest.raises(AuthError) as refused:
        await sim.sign_in(app)
    assert not isinstance(refused.value, ClientSecretExpired)
    assert refused.value.code == "invalid_client"
    assert "AADB2C90081" in str(refused.value)


@pytest.mark.asyncio
async def test_refresh_rotates_and_the_old_refresh_token_is_refused() -> None:
    sim, clock = make()
    app = sim.oauth_app()
    first = await sim.sign_in(app)
    clock.advance(600)
    second = await app.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.expires_at == clock.now() + timedelta(hours=1)
    with pytest.raises(ReauthorizationRequired) as refused:
        await app.refresh(first.refresh_token)
    assert first.refresh_token not in str(refused.value)
    third = await app.refresh(second.refresh_token)
    async with client(sim, clock, access_token=third.access_token) as c:
        assert await c.smarther.list_plants()


@pytest.mark.asyncio
async def test_an_expired_client_secret_is_aadb2c90085() -> None:
    sim, _ = make()
    app = sim.oauth_app()
    token = await sim.sign_in(app)
    sim.expire_client_secret()
    with pytest.raises(ClientSecretExpired) as expired:
        await app.refresh(token.refresh_token)
    assert expired.value.code == "AADB2C90085"
    with pytest.raises(ClientSecretExpired):
        await sim.sign_in(app)
    sim.expire_client_secret(False)
    assert await app.refresh(token.refresh_token)


async def _redirect(sim: Simulator, app: Any) -> tuple[str, str]:
    url, state = app.authorization_url()
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        response = await http.get(url)
    return response.headers["location"], state


@pytest.mark.asyncio
async def test_a_code_used_twice_or_too_old_is_aadb2c90080() -> None:
    sim, clock = make()
    app = sim.oauth_app()
    location, state = await _redirect(sim, app)
    assert await app.exchange_code(location, expected_state=state)
    with pytest.raises(AuthorizationCodeExpired) as twice:
        await app.exchange_code(location, expected_state=state)
    assert twice.value.code == "AADB2C90080"

    location, state = await _redirect(sim, app)
    clock.advance(11 * 60)
    with pytest.raises(AuthorizationCodeExpired):
        await app.exchange_code(location, expected_state=state)

    location, _ = await _redirect(sim, app)
    clock.advance(9 * 60)  # still fresh
    assert await app.exchange_code(location)


@pytest.mark.asyncio
async def test_oauth2_auth_refreshes_an_expired_token_and_keeps_working() -> None:
    sim, clock = make()
    app = sim.oauth_app()
    store = MemoryTokenStore(await sim.sign_in(app))
    first = await store.load()
    assert first is not None
    auth = OAuth2Auth(app, store)
    async with client(sim, clock, ONCE, auth=auth) as c:
        await c.smarther.list_plants()
        assert await store.load() is first
        for hour in range(1, 4):
            clock.advance(3600 + 1)
            assert len(await c.smarther.list_plants()) == 3
            token = await store.load()
            assert token is not None
            assert token.expires_at == clock.now() + timedelta(hours=1), hour
        assert token.refresh_token != first.refresh_token
        assert c.stats.statuses == {200: 4}  # refreshed ahead of time: no 401 on the way
    with pytest.raises(ReauthorizationRequired):
        await app.refresh(first.refresh_token)


@pytest.mark.asyncio
async def test_oauth2_auth_refreshes_on_a_401_too() -> None:
    sim, clock = make()
    app = sim.oauth_app()
    token = await sim.sign_in(app)
    sim.app.access.pop(token.access_token)  # revoked on the server side
    auth = OAuth2Auth(app, MemoryTokenStore(token))
    async with client(sim, clock, ONCE, auth=auth) as c:
        assert len(await c.home_control.list_plants()) == 3
        assert c.stats.statuses == {401: 1, 200: 1}


# ----------------------------------------------------------------------------------- faults


async def _one_of_each(c: LegrandClient, plant: Any, i: int) -> object:
    """Call number ``i`` of a mixed sequence over every family."""
    match i % 6:
        case 0:
            return await c.smarther.get_status(plant, plant.module_ids[0])
        case 1:
            return await c.smarther.set_status(plant, plant.module_ids[1], SetStatus.manual(20))
        case 2:
            return await c.smarther.subscribe(plant, f"{HOOK}/{i}")
        case 3:
            return await c.home_control.get_plant_status(plant.hc_id)
        case 4:
            return await c.multisocket.get_plugs(plant, "type", "wifi")
        case _:
            return await c.door_entry.call_home(plant, plant.door_units[0])


async def _fault_run(seed: int) -> tuple[list[str], dict[str, int], int]:
    sim, clock = make(seed=seed, fault_rate=0.5)
    retry = RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0)
    outcomes = []
    async with client(sim, clock, retry) as c:
        for i in range(90):
            try:
                await _one_of_each(c, sim.plants[i % 3], i)
                outcomes.append("ok")
            except LegrandError as exc:
                outcomes.append(type(exc).__name__)
        return outcomes, dict(sim.faults.injected), c.stats.attempts


@pytest.mark.asyncio
async def test_the_same_seed_injects_the_same_faults() -> None:
    first = await _fault_run(5)
    assert first == await _fault_run(5)
    other = await _fault_run(6)
    assert other[0] != first[0]
    outcomes, injected, attempts = first
    assert sum(injected.values()) > 20
    assert "ok" in outcomes
    assert len(set(outcomes)) > 2
    assert 90 < attempts <= 180


@pytest.mark.asyncio
async def test_a_per_route_fault_rate_486_ends_in_device_busy_after_the_attempts() -> None:
    sim, clock = make()
    sim.faults.per_route["set_status"] = 1.0
    sim.faults.kinds = ("486",)
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with client(sim, clock) as c:
        with pytest.raises(DeviceBusy) as busy:
            await c.smarther.set_status(plant, module, SetStatus.manual(25))
        assert busy.value.attempts == 4
        assert busy.value.body == {"statusCode": 486, "message": "Busy visual user interface"}
        assert c.stats.retries == {"486": 3}
        # only that route: reads go through, and the status did not change
        status = await c.smarther.get_status(plant, module)
        assert status.mode is Mode.AUTOMATIC
    assert sim.faults.injected == {"486": 4}


@pytest.mark.asyncio
async def test_a_408_is_request_timeout_or_a_retried_success() -> None:
    sim, clock = make()
    sim.faults.per_route["get_status"] = 1.0
    sim.faults.kinds = ("408",)
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with client(sim, clock, RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0)) as c:
        with pytest.raises(RequestTimeout) as timeout:
            await c.smarther.get_status(plant, module)
        assert timeout.value.attempts == 3
        assert timeout.value.body == {"statusCode": 408, "message": "Request timeout"}
        sim.faults.per_route["get_status"] = 0.5
        retried_successes = 0
        for _ in range(30):
            before = c.stats.attempts
            try:
                await c.smarther.get_status(plant, module)
            except RequestTimeout:
                continue
            retried_successes += c.stats.attempts - before > 1
        assert retried_successes > 0
        # 408 is a Smarther / door entry answer: never on subscriptions or Home + Control
        sim.faults.rate = 1.0
        sim.faults.per_route.clear()
        assert await c.smarther.list_subscriptions() == []
        assert await c.home_control.list_plants()


@pytest.mark.asyncio
async def test_5xx_is_a_server_error_in_the_family_format() -> None:
    sim, clock = make()
    sim.faults.kinds = ("5xx",)
    sim.faults.per_route.update(get_plant_status=1.0, get_topology=1.0)
    plant = sim.plants[0]
    async with client(sim, clock) as c:
        with pytest.raises(ServerError) as hc_error:
            await c.home_control.get_plant_status(plant.hc_id)
        with pytest.raises(ServerError) as sm_error:
            await c.smarther.get_topology(plant)
    assert hc_error.value.status_code in (500, 502, 503, 504)
    assert hc_error.value.body["errors"][0]["userMessage"] == "Server error"
    assert sm_error.value.status_code in (500, 502, 503, 504)
    assert sm_error.value.body == {
        "statusCode": sm_error.value.status_code,
        "message": "Server error",
    }
    assert hc_error.value.attempts == sm_error.value.attempts == 4


@pytest.mark.asyncio
async def test_a_dropped_connection_is_retried_only_where_idempotent() -> None:
    sim, clock = make()
    sim.faults.kinds = ("drop",)
    sim.faults.per_route.update(subscribe=1.0, get_status=1.0)
    plant = sim.plants[0]
    async with client(sim, clock) as c:
        with pytest.raises(TransportError) as dropped:
            await c.smarther.subscribe(plant, HOOK)
        assert dropped.value.attempts == 1
        assert c.stats.errors == {"RemoteProtocolError": 1}
        assert not c.stats.retries
        # the backend acted before the answer was lost: the subscription exists
        assert [s.endpoint_url for s in await c.smarther.list_subscriptions()] == [HOOK]
        with pytest.raises(TransportError) as dropped:
            await c.smarther.get_status(plant, plant.module_ids[0])
        assert dropped.value.attempts == 4
        assert c.stats.retries == {"RemoteProtocolError": 3}
        sim.faults.per_route["get_status"] = 0.5
        results = []
        for _ in range(20):
            with suppress(TransportError):
                results.append(await c.smarther.get_status(plant, plant.module_ids[0]))
        assert results
        assert c.stats.retries["RemoteProtocolError"] > 3


@pytest.mark.asyncio
async def test_malformed_json_is_a_response_validation_error_and_latency_takes_sim_time() -> None:
    sim, clock = make()
    sim.faults.per_route["get_programs"] = 1.0
    sim.faults.kinds = ("malformed",)
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with client(sim, clock) as c:
        with pytest.raises(ResponseValidationError):
            await c.smarther.get_programs(plant, module)
        # a 200 cut short on an idempotent route is retried like a dropped connection
        assert c.stats.attempts == 4
        assert c.stats.retries == {"malformed": 3}
        sim.faults.kinds = ("latency",)
        sim.faults.latency = 2.5
        assert await c.smarther.get_programs(plant, module)
    assert clock.sleeps[-1] == 2.5
    assert sim.faults.injected == {"malformed": 4, "latency": 1}


@pytest.mark.asyncio
async def test_a_malformed_fault_does_not_turn_an_error_into_a_success() -> None:
    sim, clock = make()
    sim.faults.per_route["set_status"] = 1.0
    sim.faults.kinds = ("malformed",)
    async with client(sim, clock, ONCE) as c:
        with pytest.raises(LegrandError):
            await c.smarther.set_status(sim.plants[0], UNKNOWN, SetStatus.off())


@pytest.mark.asyncio
async def test_a_per_route_fault_on_stop_automation_applies() -> None:
    sim, clock = make()
    sim.faults.per_route["stop_automation"] = 1.0
    sim.faults.kinds = ("5xx",)
    plant = sim.plants[0]
    async with client(sim, clock, ONCE) as c:
        with pytest.raises(ServerError):
            await c.home_control.stop_automation(plant.hc_id, hc_module(plant, "automation"))


# -------------------------------------------------------------------------------------- C2C


@pytest.mark.asyncio
async def test_a_state_change_is_posted_to_every_subscribed_url() -> None:
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, text="OK")

    clock = FakeClock()
    sim = Simulator.fleet(
        plants=3, seed=0, clock=clock, webhook_transport=httpx.MockTransport(receiver)
    )
    plant, module = sim.plants[1], sim.plants[1].module_ids[0]
    other = "https://second.example.org/hook"
    async with client(sim, clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.manual(19))  # nobody subscribed
        assert await sim.delivered() == []
        await c.smarther.subscribe(plant, HOOK)
        await c.smarther.subscribe(plant, other)
        await c.smarther.subscribe(sim.plants[0], "https://third.example.org/not-this-plant")
        await c.smarther.set_status(plant, module, SetStatus.manual(22.5))
        assert sorted(await sim.delivered()) == [(HOOK, 200), (other, 200)]
    assert sorted(str(r.url) for r in received) == sorted([HOOK, other])
    request = received[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    events = json.loads(request.content)
    assert isinstance(events, list)
    assert len(events) == 1
    event = events[0]
    fixture = load("smarther_c2c_event.json")[0]
    assert set(event) == set(fixture)
    assert event["eventType"] == "DeviceToCloud"
    assert event["subject"] == f"///bs_cloud_{plant}//"
    assert event["subjectElements"] == {"plantId": f"bs_cloud_{plant}"}
    assert event["eventTime"] == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    status = event["data"]["chronothermostats"][0]
    assert set(status) == set(fixture["data"]["chronothermostats"][0])
    assert (status["function"], status["mode"]) == ("HEATING", "MANUAL")
    assert status["setPoint"] == {"value": "22.50000", "unit": "C"}
    assert isinstance(status["programs"][0]["number"], str)
    assert status["sender"]["addressType"] == "AddressLocation"
    assert status["sender"]["plant"] == {"id": plant, "module": {"id": module}}
    parsed = structure(status, ChronothermostatStatus, converter=make_converter(strict=True))
    assert (parsed.mode, parsed.setpoint, parsed.module_id) == (Mode.MANUAL, 22.5, module)
    assert parsed.receiver is not None
    assert parsed.receiver.oid == [sim.client_id]
    assert {json.loads(r.content)[0]["id"] for r in received} == {event["id"]}


@pytest.mark.asyncio
async def test_a_failed_delivery_is_recorded() -> None:
    def receiver(request: httpx.Request) -> httpx.Response:
        if "down" in request.url.host:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(500)

    sim, clock = make(webhook_transport=httpx.MockTransport(receiver))
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with client(sim, clock) as c:
        await c.smarther.subscribe(plant, "https://down.example.org/hook")
        await c.smarther.subscribe(plant, "https://broken.example.org/hook")
        await c.smarther.set_status(plant, module, SetStatus.off())
    assert sorted(await sim.delivered()) == [
        ("https://broken.example.org/hook", 500),
        ("https://down.example.org/hook", "ConnectError"),
    ]


@pytest.mark.asyncio
async def test_a_notification_reaches_a_real_loopback_receiver() -> None:
    bodies: list[Any] = []
    got = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(
            int(v) for k, _, v in (x.partition(":") for x in lines) if k.lower() == "content-length"
        )
        bodies.append((lines[0], json.loads(await reader.readexactly(length))))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK")
        await writer.drain()
        writer.close()
        got.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        url = f"https://127.0.0.1:{port}/hook"
        sim, clock = make()
        plant, module = sim.plants[0], sim.plants[0].module_ids[1]
        async with client(sim, clock) as c:
            await c.smarther.subscribe(plant, url)
            await c.smarther.set_status(plant, module, SetStatus.automatic(5))
        assert await sim.delivered() == [(url, 200)]
        await asyncio.wait_for(got.wait(), 5)
    ((request_line, events),) = bodies
    assert request_line == "POST /hook HTTP/1.1"
    status = events[0]["data"]["chronothermostats"][0]
    assert (status["mode"], status["programs"]) == ("AUTOMATIC", [{"number": "5"}])
    structure(status, ChronothermostatStatus, converter=make_converter(strict=True))


# ------------------------------------------------------------------------------ over a socket


@pytest.mark.asyncio
async def test_serve_answers_a_real_request() -> None:
    sim = Simulator.fleet(plants=2, thermostats_per_plant=1, seed=3)
    async with sim.serve(port=0) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with sim.client(base_url=base_url, transport=None, retry=ONCE) as c:
            plants = await c.smarther.list_plants()
            assert [p.id for p in plants] == [p.id for p in sim.plants]
            plant = sim.plants[0]
            tv = await c.multisocket.get_plugs(plant, "name", "Living Room/TV")
            assert tv[0].status == [True, False, True]
            with pytest.raises(NotFound):
                await c.home_control.get_topology("f" * 21)
