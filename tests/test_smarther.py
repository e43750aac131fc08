"""The nine Smarther v2.0 operations on the wire: method, path, headers, body, result."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest
import respx

from legrand_async import (
    ChronothermostatStatus,
    Function,
    LegrandClient,
    LoadState,
    Mode,
    ResponseValidationError,
    SetStatus,
)

from .conftest import CHRONO, KEY, MODULE, PLANT, SUBSCRIPTION, TOKEN, load

pytestmark = pytest.mark.asyncio

SM = "/smarther/v2.0"


def assert_headers(request: httpx.Request, *, body: bool = False) -> None:
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    if body:
        assert request.headers["Content-Type"] == "application/json"
    else:
        assert request.content == b""


async def test_list_plants(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{SM}/plants").respond(
        json={"plants": [{"id": PLANT, "name": "Casa"}, {"id": MODULE, "name": "Mare"}]}
    )
    plants = await client.smarther.list_plants()
    assert [(p.id, p.name) for p in plants] == [(PLANT, "Casa"), (MODULE, "Mare")]
    assert route.call_count == 1
    assert route.calls.last.request.method == "GET"
    assert_headers(route.calls.last.request)


@pytest.mark.parametrize(
    "response", [httpx.Response(204), httpx.Response(200, json={"plants": []})]
)
async def test_list_plants_none(
    client: LegrandClient, mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(f"{SM}/plants").mock(return_value=response)
    assert await client.smarther.list_plants() == []


async def test_get_topology(client: LegrandClient, mock: respx.MockRouter) -> None:
    body = {
        "plant": {
            "id": PLANT,
            "name": "Casa",
            "modules": [
                {
                    "device": "chronothermostat",
                    "id": MODULE,
                    "name": "Soggiorno",
                    "capabilities": [
                        {
                            "capability": "setPoint",
                            "canDo": {"command": {"do": True}, "request": {"do": False}},
                        }
                    ],
                }
            ],
        }
    }
    route = mock.get(f"{SM}/plants/{PLANT}/topology").respond(json=body)
    topology = await client.smarther.get_topology(PLANT)
    assert (topology.id, topology.name) == (PLANT, "Casa")
    (module,) = topology.modules
    assert (module.id, module.name, module.device) == (MODULE, "Soggiorno", "chronothermostat")
    assert module.capabilities[0].can_do == {"command": {"do": True}, "request": {"do": False}}
    assert_headers(route.calls.last.request)


async def test_get_status(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.get(CHRONO).respond(json=load("smarther_status.json"))
    status = await client.smarther.get_status(PLANT, MODULE)
    assert isinstance(status, ChronothermostatStatus)
    assert status.function is Function.HEATING
    assert status.mode is Mode.AUTOMATIC
    assert status.setpoint == 18.0
    assert status.programs == [1]
    assert status.temperature == 19.5
    assert status.humidity == 61.9
    assert status.load_state is LoadState.INACTIVE
    assert status.activation_time is None
    assert status.time == datetime.fromisoformat("2021-02-27T22:49:32+02:00")
    assert (status.plant_id, status.module_id) == (PLANT, MODULE)
    assert route.calls.last.request.url.path == (
        f"{SM}/chronothermostat/thermoregulation/addressLocation/plants/{PLANT}"
        f"/modules/parameter/id/value/{MODULE}"
    )
    assert_headers(route.calls.last.request)


async def test_get_status_timed_manual(client: LegrandClient, mock: respx.MockRouter) -> None:
    payload = load("smarther_status.json")
    payload["chronothermostats"][0].update(
        mode="MANUAL",
        setPoint={"value": "21.50000", "unit": "C"},
        activationTime="2026-11-21T23:30:00",
        loadState="ACTIVE",
    )
    mock.get(CHRONO).respond(json=payload)
    status = await client.smarther.get_status(PLANT, MODULE)
    assert status.mode is Mode.MANUAL
    assert status.setpoint == 21.5
    assert status.activation_time == datetime(2026, 11, 21, 23, 30)
    assert status.load_state is LoadState.ACTIVE


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            SetStatus.manual(21.5, until=datetime(2026, 11, 21, 22, 30)),
            {
                "function": "heating",
                "mode": "manual",
                "setPoint": {"value": "21.5", "unit": "C"},
                "activationTime": "2026-11-21T22:30:00",
            },
        ),
        (
            SetStatus.automatic(2),
            {"function": "heating", "mode": "automatic", "programs": [{"number": 2}]},
        ),
        (
            SetStatus.boost(60, function=Function.COOLING, start=datetime(2026, 11, 21, 10, 0)),
            {
                "function": "cooling",
                "mode": "boost",
                "activationTime": "2026-11-21T10:00:00/2026-11-21T11:00:00",
            },
        ),
        (SetStatus.off(), {"function": "heating", "mode": "off"}),
        (SetStatus.protection(), {"function": "heating", "mode": "protection"}),
    ],
)
async def test_set_status(
    client: LegrandClient, mock: respx.MockRouter, status: SetStatus, body: object
) -> None:
    route = mock.post(CHRONO).respond(200)
    assert await client.smarther.set_status(PLANT, MODULE, status) is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert json.loads(request.content) == body
    assert_headers(request, body=True)


async def test_set_status_accepts_204(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.post(CHRONO).respond(204)
    await client.smarther.set_status(PLANT, MODULE, SetStatus.off())


async def test_get_measures(client: LegrandClient, mock: respx.MockRouter) -> None:
    status = load("smarther_status.json")["chronothermostats"][0]
    body = {k: status[k] for k in ("thermometer", "hygrometer", "sender")}
    body["thermometer"]["measures"].insert(
        0, {"timeStamp": "2021-02-27T21:49:32+02:00", "value": "18.7", "unit": "C"}
    )
    route = mock.get(f"{CHRONO}/measures").respond(json=body)
    measures = await client.smarther.get_measures(PLANT, MODULE)
    assert measures.temperature == 19.5
    assert measures.humidity == 61.9
    assert [m.value for m in measures.thermometer.measures] == [18.7, 19.5]
    assert measures.hygrometer.measures[0].unit == "%"
    assert_headers(route.calls.last.request)


async def test_get_programs(client: LegrandClient, mock: respx.MockRouter) -> None:
    body = {
        "chronothermostats": [
            {"programs": [{"number": 0, "name": "Default"}, {"number": "1", "name": "Winter"}]}
        ]
    }
    route = mock.get(f"{CHRONO}/programlist").respond(json=body)
    programs = await client.smarther.get_programs(PLANT, MODULE)
    assert [(p.number, p.name) for p in programs] == [(0, "Default"), (1, "Winter")]
    assert_headers(route.calls.last.request)


async def test_list_subscriptions(client: LegrandClient, mock: respx.MockRouter) -> None:
    body = [{"plantId": PLANT, "subscriptionId": SUBSCRIPTION, "EndPointUrl": "https://h/x"}]
    route = mock.get(f"{SM}/subscription").respond(json=body)
    (sub,) = await client.smarther.list_subscriptions()
    assert (sub.plant_id, sub.subscription_id, sub.endpoint_url) == (
        PLANT,
        SUBSCRIPTION,
        "https://h/x",
    )
    assert_headers(route.calls.last.request)


async def test_list_subscriptions_none(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(f"{SM}/subscription").respond(204)
    assert await client.smarther.list_subscriptions() == []


async def test_subscribe(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.post(f"{SM}/plants/{PLANT}/subscription").respond(
        201, json={"subscriptionId": SUBSCRIPTION}
    )
    assert await client.smarther.subscribe(PLANT, "https://example.org/hook") == SUBSCRIPTION
    request = route.calls.last.request
    assert json.loads(request.content) == {"EndPointUrl": "https://example.org/hook"}
    assert_headers(request, body=True)


async def test_unsubscribe(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.delete(f"{SM}/plants/{PLANT}/subscription/{SUBSCRIPTION}").respond(200)
    assert await client.smarther.unsubscribe(PLANT, SUBSCRIPTION) is None
    assert_headers(route.calls.last.request)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.smarther.get_topology("not-a-uuid"),
        lambda c: c.smarther.get_topology(""),
        lambda c: c.smarther.get_status(PLANT, "1ee68d6f/46b7"),
        lambda c: c.smarther.get_status(PLANT + " ", MODULE),
        lambda c: c.smarther.get_measures("../plants", MODULE),
        lambda c: c.smarther.get_programs(PLANT, "x"),
        lambda c: c.smarther.set_status("nope", MODULE, SetStatus.off()),
        lambda c: c.smarther.subscribe(PLANT, "http://example.org/hook"),
        lambda c: c.smarther.subscribe(PLANT, "ftp://example.org/hook"),
        lambda c: c.smarther.subscribe(PLANT, "/relative/hook"),
        lambda c: c.smarther.subscribe("nope", "https://example.org/hook"),
        lambda c: c.smarther.unsubscribe(PLANT, "sub-1"),
    ],
)
async def test_invalid_arguments_raise_before_any_request(client: LegrandClient, call) -> None:  # type: ignore[no-untyped-def]
    with respx.mock(assert_all_mocked=True) as router:
        with pytest.raises(ValueError, match=r"\S"):
            await call(client)
        assert router.calls.call_count == 0


async def test_wrong_types_raise_before_any_request(client: LegrandClient) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        with pytest.raises(TypeError):
            await client.smarther.get_status(PLANT, 123)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await client.smarther.set_status(PLANT, MODULE, {"mode": "off"})  # type: ignore[arg-type]
        assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"", "empty"),
        (b'{"chronothermostats": []}', "chronothermostats"),
        (b'{"chronothermostats": [{"function": "HEATING"}]}', "mode"),
        (
            b'{"chronothermostats": [{"function": "HEATING", "mode": "MANUAL", '
            b'"setPoint": {"value": "warm"}}]}',
            "value",
        ),
        (b"[1, 2]", "chronothermostats"),
    ],
)
async def test_malformed_status_raises_response_validation_error(
    client: LegrandClient, mock: respx.MockRouter, content: bytes, fragment: str
) -> None:
    mock.get(CHRONO).respond(200, content=content)
    with pytest.raises(ResponseValidationError) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert fragment in str(info.value)
    assert info.value.status_code == 200


async def test_subscribe_without_id_is_a_validation_error(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.post(f"{SM}/plants/{PLANT}/subscription").respond(201, json={"id": "x"})
    with pytest.raises(ResponseValidationError, match="subscriptionId"):
        await client.smarther.subscribe(PLANT, "https://example.org/hook")


async def test_path_values_are_percent_encoded(client: LegrandClient) -> None:
    from legrand_async._routes import route

    topology = route("smarther", "get_topology")
    assert topology.render_path([PLANT.upper()]) == f"{SM}/plants/{PLANT.upper()}/topology"
