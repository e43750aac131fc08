"""Home + Control (legacy) on the wire: every operation, its errors, its fixtures, its checks."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from legrand_async import LegrandClient, ModuleKind, ModuleStatus, errors
from legrand_async._converters import make_converter, structure
from legrand_async._endpoints.home_control import HomeControlAPI
from legrand_async.models.home_control import ModuleStatuses, Scene, Topology

from .conftest import KEY, TOKEN, FakeClock, assert_headers, assert_refused_before_any_request, load

HC = "/hc/api/v1.0"
# Ids as the cloud sends them (tests/fixtures/hc_topology.json): opaque strings, not UUIDs.
HC_PLANT = "123456789009876543210"
PLUG = "0000000587654321fedcba"
LIGHT = "0000000787654321fedcba"
SHUTTER = "00001234567890000xxxxxxx"
REMOTE = "000000012345678abcdef"
AMBIENT = "000000052345678fedcba"
METER = "0000000000000000meter01"
HEATER = "0000000000000000heat01"


def module_path(kind_path: str, module_id: str = PLUG, plant_id: str = HC_PLANT) -> str:
    return (
        f"{HC}/{kind_path}/addressLocation/plants/{plant_id}/modules/parameter/id/value/{module_id}"
    )


AUTOMATION_PATH = module_path("automation/automation", SHUTTER)
SCENES_PATH = f"{HC}/scene/comfort/addressLocation/plants/{HC_PLANT}"
AMBIENT_PATH = (
    f"{HC}/plug/energy/addressLocation/plants/{HC_PLANT}/ambients/parameter/id/value/{AMBIENT}"
)


def sender(module_id: str) -> dict[str, Any]:
    return {"plant": {"module": {"id": module_id}}}


def watt(value: float, timestamp: str) -> dict[str, Any]:
    return {"unit": "watt", "value": value, "timestamp": timestamp}


PLANT_STATUS = {
    "modules": {
        "lights": [
            {
                "reachable": True,
                "status": "on",
                "level": 80,
                "fw": 46,
                "consumptions": [watt(12, "2020-11-22T11:00:00+00:00")],
                "sender": sender(LIGHT),
            }
        ],
        "plugs": [
            {
                "reachable": True,
                "status": "off",
                "fw": 42,
                "consumptions": [
                    watt(1999, "2020-11-22T11:00:00+00:00"),
                    watt(1500, "2020-11-22T11:05:00+00:00"),
                    watt(0, "2020-11-22T11:10:00+00:00"),
                ],
                "sender": sender(PLUG),
            }
        ],
        "automations": [
            {"reachable": True, "level": 35, "step": 100, "fw": 32, "sender": sender(SHUTTER)}
        ],
        "remotes": [{"reachable": False, "battery": "full", "fw": 21, "sender": sender(REMOTE)}],
        "heaters": [{"reachable": True, "fw": 12, "sender": sender(HEATER)}],
        "energymeters": [
            {
                "reachable": True,
                "fw": 7,
                "consumptions": [watt("3120.5", "2020-11-22T11:10:00+00:00")],
                "sender": sender(METER),
            }
        ],
    }
}

SCENES = {"scenes": [{"name": "Good night", "sender": {"plant": {"module": {"id": "scene-1"}}}}]}


# --- list_plants -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_plants(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{HC}/plants").respond(
        json={
            "plants": [
                {"id": HC_PLANT, "name": "Maison", "country": "FR"},
                {"id": "987654321", "name": "Chalet"},
            ]
        }
    )
    plants = await client.home_control.list_plants()
    assert [(p.id, p.name, p.country) for p in plants] == [
        (HC_PLANT, "Maison", "FR"),
        ("987654321", "Chalet", None),
    ]
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.raw_path == f"{HC}/plants".encode()
    assert_headers(request)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(204),
        httpx.Response(200, json={"plants": []}),
        httpx.Response(200, json={"plants": None}),
    ],
)
@pytest.mark.asyncio
async def test_list_plants_none(
    client: LegrandClient, mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(f"{HC}/plants").mock(return_value=response)
    assert await client.home_control.list_plants() == []


# --- get_topology ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_get_topology(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{HC}/plants/{HC_PLANT}/topology").respond(json=load("hc_topology.json"))
    topology = await client.home_control.get_topology(HC_PLANT)
    assert topology.id == HC_PLANT
    assert [(a.id, a.name, a.type) for a in topology.ambients] == [
        ("000000012345678fedcba", "Kitchen", "kitchen"),
        ("000000032345678fedcba", "Master Bedroom", "bedroom"),
        ("000000042345678fedcba", "Living Room", "livingroom"),
        (AMBIENT, "Dining Room", "dining_room"),
    ]
    kitchen = topology.ambients[0]
    assert [(m.id, m.kind, m.hw_type, m.type) for m in kitchen.modules] == [
        ("0000000987654321fedcba", ModuleKind.PLUG, "NLP", "other"),
        (SHUTTER, ModuleKind.AUTOMATION, "NBR", None),
    ]
    assert [(m.name, m.kind) for m in topology.modules] == [
        ("General Command", ModuleKind.REMOTE),
        ("Wall Switch 1", ModuleKind.REMOTE),
        ("Wall Switch 2", ModuleKind.REMOTE),
    ]
    assert len(topology.all_modules) == 10
    assert topology.all_modules[-1].name == "Wall Switch 2"
    assert route.calls.last.request.method == "GET"
    assert_headers(route.calls.last.request)


@pytest.mark.asyncio
async def test_get_topology_lenient(client: LegrandClient, mock: respx.MockRouter) -> None:
    """Unknown devices become UNKNOWN, device names in any case, and empty rooms are fine."""
    body = {
        "plant": {
            "id": HC_PLANT,
            "name": "Maison",
            "ambients": [{"id": "a1", "name": "Garage", "type": "garage", "modules": []}],
            "modules": [
                {"id": "m1", "name": "Doorbell", "hw_type": "NDB", "device": "camera"},
                {"id": "m2", "name": "Plug", "hw_type": "NLPM", "device": "PLUG", "extra": 1},
            ],
        }
    }
    mock.get(f"{HC}/plants/{HC_PLANT}/topology").respond(json=body)
    topology = await client.home_control.get_topology(HC_PLANT)
    assert topology.name == "Maison"
    assert topology.ambients[0].modules == []
    assert [m.kind for m in topology.modules] == [ModuleKind.UNKNOWN, ModuleKind.PLUG]


# --- get_plant_status --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_get_plant_status(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{HC}/plants/{HC_PLANT}").respond(json=PLANT_STATUS)
    statuses = await client.home_control.get_plant_status(HC_PLANT)
    by_id = {s.module_id: s for s in statuses}
    assert [(s.module_id, s.kind) for s in statuses] == [
        (LIGHT, ModuleKind.LIGHT),
        (PLUG, ModuleKind.PLUG),
        (SHUTTER, ModuleKind.AUTOMATION),
        (REMOTE, ModuleKind.REMOTE),
        (HEATER, ModuleKind.HEATER),
        (METER, ModuleKind.ENERGYMETER),
    ]
    light = by_id[LIGHT]
    assert (light.is_on, light.level, light.power_w, light.fw, light.reachable) == (
        True,
        80,
        12.0,
        46,
        True,
    )
    plug = by_id[PLUG]
    assert plug.is_on is False
    assert plug.power_w == 0.0  # the latest of three readings
    assert [c.value for c in plug.consumptions] == [1999.0, 1500.0, 0.0]
    assert plug.consumptions[0].timestamp == datetime(2020, 11, 22, 11, 0, tzinfo=UTC)
    shutter = by_id[SHUTTER]
    assert (shutter.level, shutter.step, shutter.is_on, shutter.power_w) == (35, 100, None, None)
    remote = by_id[REMOTE]
    assert (remote.battery, remote.reachable, remote.is_on) == ("full", False, None)
    assert by_id[HEATER].fw == 12
    assert by_id[METER].power_w == 3120.5
    assert route.calls.last.request.method == "GET"
    assert_headers(route.calls.last.request)


@pytest.mark.asyncio
async def test_get_plant_status_empty_groups(client: LegrandClient, mock: respx.MockRouter) -> None:
    groups = ("lights", "plugs", "automations", "energymeters", "remotes", "heaters")
    mock.get(f"{HC}/plants/{HC_PLANT}").respond(json={"modules": {g: [] for g in groups}})
    assert await client.home_control.get_plant_status(HC_PLANT) == []


@pytest.mark.asyncio
async def test_get_plant_status_unknown_group_is_lenient(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    body = {
        "modules": {
            "cameras": [{"reachable": True, "fw": 3, "sender": sender("cam-1"), "zoom": 2}],
            "Plugs": [{"reachable": True, "status": "ON", "sender": sender(PLUG)}],
        }
    }
    mock.get(f"{HC}/plants/{HC_PLANT}").respond(json=body)
    camera, plug = await client.home_control.get_plant_status(HC_PLANT)
    assert (camera.module_id, camera.kind, camera.fw) == ("cam-1", ModuleKind.UNKNOWN, 3)
    assert (plug.kind, plug.is_on) == (ModuleKind.PLUG, True)


@pytest.mark.asyncio
async def test_get_plant_status_bad_shape(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(f"{HC}/plants/{HC_PLANT}").respond(json={"modules": [1, 2]})
    with pytest.raises(errors.ResponseValidationError) as info:
        await client.home_control.get_plant_status(HC_PLANT)
    assert info.value.status_code == 200


# --- get_module_status -------------------------------------------------------------------

KINDS = [
    (ModuleKind.PLUG, "plug/energy", "plugs"),
    (ModuleKind.LIGHT, "light/lighting", "lights"),
    (ModuleKind.AUTOMATION, "automation/automation", "automations"),
    (ModuleKind.REMOTE, "remote/remote", "remotes"),
    (ModuleKind.HEATER, "heater/comfort", "heaters"),
    (ModuleKind.ENERGYMETER, "meter/energy", "energymeters"),
]


@pytest.mark.parametrize(("kind", "kind_path", "group"), KINDS)
@pytest.mark.asyncio
async def test_get_module_status_every_kind(
    client: LegrandClient, mock: respx.MockRouter, kind: ModuleKind, kind_path: str, group: str
) -> None:
    item = {"reachable": True, "fw": 9, "sender": sender(PLUG)}
    route = mock.get(module_path(kind_path)).respond(json={group: [item]})
    status = await client.home_control.get_module_status(HC_PLANT, kind, PLUG)
    assert isinstance(status, ModuleStatus)
    assert (status.kind, status.module_id, status.reachable, status.fw) == (kind, PLUG, True, 9)
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.raw_path == module_path(kind_path).encode()
    assert_headers(request)


@pytest.mark.asyncio
async def test_get_module_status_plug_fixture(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(module_path("plug/energy")).respond(json=load("hc_plug_status.json"))
    status = await client.home_control.get_module_status(HC_PLANT, ModuleKind.PLUG, PLUG)
    assert status.kind is ModuleKind.PLUG
    assert status.module_id == PLUG
    assert status.is_on is True
    assert status.power_w == 1999
    assert status.reachable is True
    assert status.fw == 42


@pytest.mark.asyncio
async def test_get_module_status_automation_and_remote(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(AUTOMATION_PATH).respond(
        json={
            "automations": [{"reachable": True, "level": 0, "step": 100, "sender": sender(SHUTTER)}]
        }
    )
    mock.get(module_path("remote/remote", REMOTE)).respond(
        json={"remotes": [{"reachable": True, "battery": "full", "sender": sender(REMOTE)}]}
    )
    shutter = await client.home_control.get_module_status(HC_PLANT, ModuleKind.AUTOMATION, SHUTTER)
    assert (shutter.level, shutter.step) == (0, 100)
    remote = await client.home_control.get_module_status(HC_PLANT, ModuleKind.REMOTE, REMOTE)
    assert remote.battery == "full"


@pytest.mark.asyncio
async def test_get_module_status_accepts_the_kind_as_a_string(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    route = mock.get(module_path("light/lighting", LIGHT)).respond(
        json={"lights": [{"status": "off", "sender": sender(LIGHT)}]}
    )
    status = await client.home_control.get_module_status(HC_PLANT, "light", LIGHT)  # type: ignore[arg-type]
    assert (status.kind, status.is_on) == (ModuleKind.LIGHT, False)
    assert route.called


@pytest.mark.asyncio
async def test_get_module_status_power_is_the_latest_watt_reading(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    item = {
        "status": "on",
        "consumptions": [
            watt(120, "2020-11-22T11:00:00+00:00"),
            {"unit": "wh", "value": 98000, "timestamp": "2020-11-22T11:01:00+00:00"},
            watt(135.5, "2020-11-22T11:05:00+00:00"),
            {"unit": "wh", "value": 99000, "timestamp": "2020-11-22T11:06:00+00:00"},
        ],
        "sender": sender(PLUG),
    }
    mock.get(module_path("plug/energy")).respond(json={"plugs": [item]})
    status = await client.home_control.get_module_status(HC_PLANT, ModuleKind.PLUG, PLUG)
    assert status.power_w == 135.5
    assert len(status.consumptions) == 4


@pytest.mark.asyncio
async def test_power_is_the_latest_reading_whatever_the_order(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    item = {
        "status": "on",
        "consumptions": [
            watt(135.5, "2020-11-22T11:05:00+00:00"),
            watt(120, "2020-11-22T11:00:00+00:00"),
        ],
        "sender": sender(PLUG),
    }
    mock.get(module_path("plug/energy")).respond(json={"plugs": [item]})
    status = await client.home_control.get_module_status(HC_PLANT, ModuleKind.PLUG, PLUG)
    assert status.power_w == 135.5


@pytest.mark.asyncio
async def test_get_module_status_without_any_status(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(module_path("plug/energy")).respond(json={"plugs": []})
    with pytest.raises(errors.ResponseValidationError):
        await client.home_control.get_module_status(HC_PLANT, ModuleKind.PLUG, PLUG)


def test_get_module_status_is_annotated_with_what_it_returns() -> None:
    hints = typing.get_type_hints(HomeControlAPI.get_module_status)
    assert hints["return"] is ModuleStatus


# --- set_module_status, set_ambient_plugs --------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kind_path", "module_id", "on", "body"),
    [
        (ModuleKind.PLUG, "plug/energy", PLUG, True, {"status": "on"}),
        (ModuleKind.PLUG, "plug/energy", PLUG, False, {"status": "off"}),
        (ModuleKind.LIGHT, "light/lighting", LIGHT, True, {"status": "on"}),
        (ModuleKind.LIGHT, "light/lighting", LIGHT, False, {"status": "off"}),
    ],
)
@pytest.mark.asyncio
async def test_set_module_status(
    client: LegrandClient,
    mock: respx.MockRouter,
    kind: ModuleKind,
    kind_path: str,
    module_id: str,
    on: bool,
    body: dict[str, str],
) -> None:
    route = mock.post(module_path(kind_path, module_id)).respond(200)
    assert await client.home_control.set_module_status(HC_PLANT, kind, module_id, on=on) is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.raw_path == module_path(kind_path, module_id).encode()
    assert request.content == json.dumps(body, separators=(",", ":")).encode()
    assert_headers(request, body=body)


@pytest.mark.parametrize(("on", "status"), [(True, "on"), (False, "off")])
@pytest.mark.asyncio
async def test_set_ambient_plugs(
    client: LegrandClient, mock: respx.MockRouter, on: bool, status: str
) -> None:
    route = mock.post(AMBIENT_PATH).respond(200)
    assert await client.home_control.set_ambient_plugs(HC_PLANT, AMBIENT, on=on) is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.raw_path == AMBIENT_PATH.encode()
    assert_headers(request, body={"status": status})


# --- automations -------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 1, 55, 100])
@pytest.mark.asyncio
async def test_set_automation_level(
    client: LegrandClient, mock: respx.MockRouter, level: int
) -> None:
    route = mock.post(AUTOMATION_PATH).respond(200)
    assert await client.home_control.set_automation_level(HC_PLANT, SHUTTER, level) is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.raw_path == AUTOMATION_PATH.encode()
    assert_headers(request, body={"level": level})


@pytest.mark.asyncio
async def test_stop_automation(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.post(AUTOMATION_PATH).respond(200)
    assert await client.home_control.stop_automation(HC_PLANT, SHUTTER) is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.content == b'{"level":-1}'
    assert_headers(request, body={"level": -1})


# --- scenes ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_scenes(client: LegrandClient, mock: respx.MockRouter) -> None:
    body = {
        "scenes": [
            *SCENES["scenes"],
            {"name": "Away", "sender": {"plant": {"module": {"id": "scene-2"}}}},
            {"name": "No sender"},
        ]
    }
    route = mock.get(SCENES_PATH).respond(json=body)
    scenes = await client.home_control.list_scenes(HC_PLANT)
    assert [(s.id, s.name) for s in scenes] == [
        ("scene-1", "Good night"),
        ("scene-2", "Away"),
        (None, "No sender"),
    ]
    assert route.calls.last.request.method == "GET"
    assert_headers(route.calls.last.request)


@pytest.mark.parametrize(
    "response", [httpx.Response(204), httpx.Response(200, json={"scenes": []})]
)
@pytest.mark.asyncio
async def test_list_scenes_none(
    client: LegrandClient, mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(SCENES_PATH).mock(return_value=response)
    assert await client.home_control.list_scenes(HC_PLANT) == []


@pytest.mark.asyncio
async def test_run_scene(client: LegrandClient, mock: respx.MockRouter) -> None:
    path = f"{SCENES_PATH}/modules/parameter/id/value/scene-1"
    route = mock.post(path).respond(200)
    assert await client.home_control.run_scene(HC_PLANT, "scene-1") is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.raw_path == path.encode()
    assert request.content == b'{"enable":true}'
    assert_headers(request, body={"enable": True})


# --- errors: {"errors": [{"userMessage", "internalMessage", "code"}]} -------------------------

HC_ERRORS = [
    (400, "Invalid arguments", errors.BadRequest),
    (403, "Operation forbidden", errors.Forbidden),
    (404, "Not found", errors.NotFound),
    (406, "Request not acceptable", errors.NotAcceptable),
    (500, "Internal error", errors.ServerError),
]

Call = Callable[[LegrandClient], Coroutine[Any, Any, object]]

OPERATIONS: list[tuple[str, str, Call]] = [
    ("GET", f"{HC}/plants", lambda c: c.home_control.list_plants()),
    ("GET", f"{HC}/plants/{HC_PLANT}/topology", lambda c: c.home_control.get_topology(HC_PLANT)),
    ("GET", f"{HC}/plants/{HC_PLANT}", lambda c: c.home_control.get_plant_status(HC_PLANT)),
    (
        "GET",
        module_path("plug/energy"),
        lambda c: c.home_control.get_module_status(HC_PLANT, ModuleKind.PLUG, PLUG),
    ),
    (
        "POST",
        module_path("light/lighting", LIGHT),
        lambda c: c.home_control.set_module_status(HC_PLANT, ModuleKind.LIGHT, LIGHT, on=True),
    ),
    ("POST", AMBIENT_PATH, lambda c: c.home_control.set_ambient_plugs(HC_PLANT, AMBIENT, on=False)),
    (
        "POST",
        AUTOMATION_PATH,
        lambda c: c.home_control.set_automation_level(HC_PLANT, SHUTTER, 50),
    ),
    ("POST", AUTOMATION_PATH, lambda c: c.home_control.stop_automation(HC_PLANT, SHUTTER)),
    ("GET", SCENES_PATH, lambda c: c.home_control.list_scenes(HC_PLANT)),
    (
        "POST",
        f"{SCENES_PATH}/modules/parameter/id/value/scene-1",
        lambda c: c.home_control.run_scene(HC_PLANT, "scene-1"),
    ),
]


@pytest.mark.parametrize(("status", "message", "cls"), HC_ERRORS)
@pytest.mark.parametrize(
    ("method", "path", "call"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
@pytest.mark.asyncio
async def test_documented_errors(
    once: LegrandClient,
    mock: respx.MockRouter,
    method: str,
    path: str,
    call: Call,
    status: int,
    message: str,
    cls: type[errors.APIError],
) -> None:
    body = {"errors": [{"userMessage": message, "internalMessage": f"hc-{status}", "code": 17}]}
    route = mock.route(method=method, path=path).respond(
        status, json=body, headers={"x-request-id": "hc-req-1"}
    )
    with pytest.raises(cls) as info:
        await call(once)
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.code, error.message, error.body) == (
        status,
        17,
        message,
        body,
    )
    assert error.request_id == "hc-req-1"
    assert str(error) == f"{status} {message} (request id hc-req-1)"
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_406_is_not_acceptable(once: LegrandClient, mock: respx.MockRouter) -> None:
    body = {"errors": [{"internalMessage": "level not supported by NLF", "code": 0}]}
    mock.post(module_path("light/lighting", LIGHT)).respond(406, json=body)
    with pytest.raises(errors.NotAcceptable) as info:
        await once.home_control.set_module_status(HC_PLANT, ModuleKind.LIGHT, LIGHT, on=False)
    assert info.value.message == "level not supported by NLF"  # internalMessage when no user one
    assert info.value.code == 0


@pytest.mark.asyncio
async def test_500_is_retried_then_raised(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    body = {"errors": [{"userMessage": "Internal error", "internalMessage": "x", "code": 1}]}
    route = mock.get(f"{HC}/plants").respond(500, json=body)
    with pytest.raises(errors.ServerError) as info:
        await client.home_control.list_plants()
    assert route.call_count == 4
    assert info.value.attempts == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_daily_quota_in_the_errors_format(
    once: LegrandClient, mock: respx.MockRouter
) -> None:
    message = "Out of call volume quota. Quota will be replenished in 01:00:00."
    body = {"errors": [{"userMessage": message, "internalMessage": "quota", "code": 403}]}
    mock.get(f"{HC}/plants").respond(403, json=body)
    with pytest.raises(errors.QuotaExhausted) as info:
        await once.home_control.list_plants()
    assert info.value.resets_at == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)


@pytest.mark.asyncio
async def test_secrets_never_show_in_errors(once: LegrandClient, mock: respx.MockRouter) -> None:
    body = {"errors": [{"userMessage": f"bad token {TOKEN}", "internalMessage": KEY, "code": 1}]}
    mock.get(f"{HC}/plants").respond(400, json=body)
    with pytest.raises(errors.BadRequest) as info:
        await once.home_control.list_plants()
    for text in (str(info.value), repr(info.value), json.dumps(info.value.body)):
        assert TOKEN not in text
        assert KEY not in text


# --- percent-encoding --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "method", "raw_path"),
    [
        (
            lambda c: c.home_control.get_topology("plant/1 #x"),
            "GET",
            f"{HC}/plants/plant%2F1%20%23x/topology",
        ),
        (
            lambda c: c.home_control.get_plant_status("a?b=c&d"),
            "GET",
            f"{HC}/plants/a%3Fb%3Dc%26d",
        ),
        (
            lambda c: c.home_control.get_module_status("p 1", ModuleKind.PLUG, "m/1"),
            "GET",
            f"{HC}/plug/energy/addressLocation/plants/p%201/modules/parameter/id/value/m%2F1",
        ),
        (
            lambda c: c.home_control.set_ambient_plugs(HC_PLANT, "Séjour/1", on=True),
            "POST",
            f"{HC}/plug/energy/addressLocation/plants/{HC_PLANT}/ambients/parameter/id/value/"
            "S%C3%A9jour%2F1",
        ),
        (
            lambda c: c.home_control.run_scene(HC_PLANT, "50%+1"),
            "POST",
            f"{SCENES_PATH}/modules/parameter/id/value/50%25%2B1",
        ),
        (
            lambda c: c.home_control.stop_automation(HC_PLANT, "%2F"),
            "POST",
            f"{HC}/automation/automation/addressLocation/plants/{HC_PLANT}"
            "/modules/parameter/id/value/%252F",
        ),
    ],
)
@pytest.mark.asyncio
async def test_ids_are_percent_encoded(
    client: LegrandClient, mock: respx.MockRouter, call: Call, method: str, raw_path: str
) -> None:
    # Enough for every operation: get_module_status reads the whole document as groups.
    status = "/modules/" in raw_path and method == "GET"
    payload = {"plugs": [{}]} if status else {"plant": {"id": "x"}, "modules": {}}
    route = mock.route(method=method).respond(200, json=payload)
    await call(client)
    request = route.calls.last.request
    assert request.url.raw_path == raw_path.encode()
    assert request.url.host == "api.developer.legrand.com"


@pytest.mark.parametrize("plant_id", ["..", "."])
@pytest.mark.asyncio
async def test_dot_segment_ids_never_reach_another_path(
    client: LegrandClient, plant_id: str
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        with pytest.raises(ValueError, match="must not be"):
            await client.home_control.get_topology(plant_id)
        assert router.calls.call_count == 0


# --- validation before any request -------------------------------------------------------

INVALID: list[tuple[Call, type[Exception]]] = [
    (lambda c: c.home_control.get_topology(""), ValueError),
    (lambda c: c.home_control.get_topology("   "), ValueError),
    (lambda c: c.home_control.get_topology(123), TypeError),
    (lambda c: c.home_control.get_plant_status(""), ValueError),
    (lambda c: c.home_control.get_module_status("", ModuleKind.PLUG, PLUG), ValueError),
    (lambda c: c.home_control.get_module_status(HC_PLANT, ModuleKind.PLUG, ""), ValueError),
    (lambda c: c.home_control.get_module_status(HC_PLANT, ModuleKind.UNKNOWN, PLUG), ValueError),
    (lambda c: c.home_control.get_module_status(HC_PLANT, "socket", PLUG), ValueError),
    (lambda c: c.home_control.get_module_status(HC_PLANT, None, PLUG), ValueError),
    (lambda c: c.home_control.get_module_status(HC_PLANT, 1, PLUG), ValueError),
    (
        lambda c: c.home_control.set_module_status(
            HC_PLANT, ModuleKind.AUTOMATION, SHUTTER, on=True
        ),
        ValueError,
    ),
    (
        lambda c: c.home_control.set_module_status(HC_PLANT, ModuleKind.REMOTE, PLUG, on=True),
        ValueError,
    ),
    (
        lambda c: c.home_control.set_module_status(HC_PLANT, ModuleKind.UNKNOWN, PLUG, on=True),
        ValueError,
    ),
    (lambda c: c.home_control.set_module_status(HC_PLANT, "bogus", PLUG, on=True), ValueError),
    (
        lambda c: c.home_control.set_module_status(HC_PLANT, ModuleKind.PLUG, "", on=True),
        ValueError,
    ),
    (
        lambda c: c.home_control.set_module_status(HC_PLANT, ModuleKind.PLUG, PLUG, on="on"),
        TypeError,
    ),
    (lambda c: c.home_control.set_module_status(HC_PLANT, ModuleKind.PLUG, PLUG, on=1), TypeError),
    (lambda c: c.home_control.set_ambient_plugs(HC_PLANT, "", on=True), ValueError),
    (lambda c: c.home_control.set_ambient_plugs("", AMBIENT, on=True), ValueError),
    (lambda c: c.home_control.set_ambient_plugs(HC_PLANT, AMBIENT, on=None), TypeError),
    (lambda c: c.home_control.set_automation_level(HC_PLANT, SHUTTER, -1), ValueError),
    (lambda c: c.home_control.set_automation_level(HC_PLANT, SHUTTER, 101), ValueError),
    (lambda c: c.home_control.set_automation_level(HC_PLANT, SHUTTER, True), TypeError),
    (lambda c: c.home_control.set_automation_level(HC_PLANT, SHUTTER, "50"), TypeError),
    (lambda c: c.home_control.set_automation_level(HC_PLANT, SHUTTER, 50.0), TypeError),
    (lambda c: c.home_control.set_automation_level(HC_PLANT, "", 50), ValueError),
    (lambda c: c.home_control.stop_automation(HC_PLANT, ""), ValueError),
    (lambda c: c.home_control.list_scenes(""), ValueError),
    (lambda c: c.home_control.run_scene(HC_PLANT, ""), ValueError),
    (lambda c: c.home_control.run_scene(HC_PLANT, None), TypeError),
]


@pytest.mark.parametrize(("call", "error"), INVALID)
@pytest.mark.asyncio
async def test_invalid_arguments_raise_before_any_request(
    client: LegrandClient, call: Call, error: type[Exception]
) -> None:
    await assert_refused_before_any_request(client, call, error)


# --- the shared fixtures, structured strictly ------------------------------------------------

STRICT = make_converter(strict=True)


def test_topology_fixture_is_strict() -> None:
    topology = structure(load("hc_topology.json")["plant"], Topology, converter=STRICT)
    assert isinstance(topology, Topology)
    assert topology.id == HC_PLANT
    assert topology.name is None
    assert [len(a.modules) for a in topology.ambients] == [2, 2, 1, 2]
    assert {m.kind for m in topology.all_modules} == {
        ModuleKind.PLUG,
        ModuleKind.AUTOMATION,
        ModuleKind.LIGHT,
        ModuleKind.REMOTE,
    }
    outlet = topology.ambients[3].modules[1]
    assert (outlet.id, outlet.name, outlet.hw_type, outlet.type, outlet.device) == (
        PLUG,
        "Dining Room Wall Outlet",
        "NLP",
        "other",
        ModuleKind.PLUG,
    )


def test_plug_status_fixture_is_strict() -> None:
    statuses = structure(load("hc_plug_status.json"), ModuleStatuses, converter=STRICT)
    (status,) = statuses
    assert status.kind is ModuleKind.PLUG
    assert status.module_id == "0000000587654321fedcba"
    assert status.is_on is True
    assert status.power_w == 1999
    assert status.fw == 42
    assert status.reachable is True
    assert status.consumptions[0].timestamp == datetime(2020, 11, 22, 11, 14, 14, tzinfo=UTC)


def test_plant_status_payload_is_strict() -> None:
    statuses = structure(PLANT_STATUS["modules"], ModuleStatuses, converter=STRICT)
    assert len(statuses) == 6


def test_strict_converter_refuses_unknown_groups_and_keys() -> None:
    with pytest.raises(errors.ResponseValidationError):
        structure({"cameras": []}, ModuleStatuses, converter=STRICT)
    with pytest.raises(errors.ResponseValidationError):
        structure(
            {"plugs": [{"reachable": True, "colour": "red"}]}, ModuleStatuses, converter=STRICT
        )


def test_scenes_payload_is_strict() -> None:
    (scene,) = structure(SCENES["scenes"], list[Scene], converter=STRICT)
    assert (scene.id, scene.name) == ("scene-1", "Good night")
