"""Every well-formed delivery is acknowledged 2xx; what is not modelled reaches the consumer raw.

Legrand counts an answer >= 300 as a failure and bans the endpoint after 20, so the receiver
must never refuse an Event Grid delivery because it does not know the event.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legrand_async._notifications import is_validation, read_event
from legrand_async.errors import ResponseValidationError
from legrand_async.models.smarther import Mode
from legrand_async.simulator import Simulator
from legrand_async.webhooks import (
    OtherEvent,
    ThermostatEvent,
    WebhookReceiver,
    parse_notification,
)

from .conftest import MODULE, PLANT, load
from .webhook_helpers import posting, serving, take

SECRET = "s3cret-0123456789abcdef"
HOOK = f"http://receiver.test/legrand/hook/{SECRET}"
EVENT = load("smarther_c2c_event.json")
VALIDATION = load("hc_webhook_validation.json")
CODE = VALIDATION[0]["data"]["validationCode"]
HC_MODULE = "000000000000000000ab0"

#: Built from Azure Event Grid's documented schema (SubscriptionDeletedEventData).
DELETED = {
    "id": "4e8ac7f5-a85c-4de4-9a3d-d7b4ab1d2dbc",
    "topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/legrand",
    "subject": "",
    "data": {"eventSubscriptionId": "/subscriptions/0000/eventSubscriptions/hook"},
    "eventType": "Microsoft.EventGrid.SubscriptionDeletedEvent",
    "eventTime": "2026-01-12T07:00:00.789Z",
    "metadataVersion": "1",
    "dataVersion": "1",
}
#: A Home + Control event (a scene launched): data.sender.plant.module.id (REFERENCE.md 10a).
HC_EVENT = {
    "id": "hc-1",
    "eventType": "DeviceToCloud",
    "subject": f"///bs_cloud_{PLANT}//",
    "eventTime": "2026-01-12T07:00:01Z",
    "data": {
        "scenes": [{"status": "launched"}],
        "sender": {"plant": {"id": PLANT, "module": {"id": HC_MODULE}}},
    },
}
UNKNOWN = {"id": "u-1", "eventType": "Legrand.Something.New", "data": {"anything": [1, 2]}}
CLOUD_EVENT = {"id": "ce-1", "type": "org.example.event", "specversion": "1.0", "time": ""}


def other(**fields: Any) -> dict[str, Any]:
    return {**UNKNOWN, **fields}


# ------------------------------------------------------------------------ acknowledged 200

WELL_FORMED = {
    "thermostat notification": (EVENT, 1, 0),
    "validation handshake": (VALIDATION, 0, 0),
    "SubscriptionDeletedEvent": ([DELETED], 1, 1),
    "SubscriptionDeletedEvent as an object": (DELETED, 1, 1),
    "Home + Control event": ([HC_EVENT], 1, 1),
    "unknown eventType": ([UNKNOWN], 1, 1),
    "CloudEvents type": ([CLOUD_EVENT], 1, 1),
    "no eventType, data not thermostats": ([{"id": "x", "data": {"other": 1}}], 1, 1),
    "data not an object": ([{"id": "x", "data": 5}], 1, 1),
    "data as JSON text, not thermostats": ([{"id": "x", "data": '{"a": 1}'}], 1, 1),
    "data as text that is not JSON": ([{"id": "x", "data": "{nope"}], 1, 1),
    "empty array": ([], 0, 0),
    "mixed": ([VALIDATION[0], DELETED, *EVENT, UNKNOWN], 3, 2),
    "ids that are not strings": ([other(id=5), other(id=None), other(id=["a"])], 3, 3),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "queued", "others"), WELL_FORMED.values(), ids=WELL_FORMED)
async def test_every_well_formed_delivery_is_acknowledged(
    body: Any, queued: int, others: int
) -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        response = await http.post(HOOK, json=body)
    assert response.status_code == 200
    assert (receiver.received, receiver.other, receiver.rejected) == (queued, others, 0)
    events = await take(receiver, queued)
    assert sum(isinstance(e, OtherEvent) for e in events) == others


@pytest.mark.asyncio
async def test_the_handshake_is_answered_with_its_code_also_beside_other_events() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        response = await http.post(HOOK, json=[DELETED, VALIDATION[0]])
    assert response.json() == {"validationResponse": CODE, "validationCode": CODE}
    (event,) = await take(receiver, 1)
    assert isinstance(event, OtherEvent)


@pytest.mark.asyncio
async def test_an_unmodelled_event_reaches_the_consumer_raw() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        for body in ([DELETED], [HC_EVENT], CLOUD_EVENT):
            assert (await http.post(HOOK, json=body)).status_code == 200
    deleted, hc, cloud = await take(receiver, 3)
    assert isinstance(deleted, OtherEvent)
    assert deleted.event_type == "Microsoft.EventGrid.SubscriptionDeletedEvent"
    assert deleted.event_id == DELETED["id"]
    assert deleted.event_time == datetime(2026, 1, 12, 7, 0, 0, 789000, tzinfo=UTC)
    assert deleted.raw == DELETED
    assert deleted.data == {"eventSubscriptionId": "/subscriptions/0000/eventSubscriptions/hook"}
    assert (deleted.plant_id, deleted.module_id, deleted.problem) == (None, None, None)
    assert isinstance(hc, OtherEvent)
    assert (hc.event_type, hc.plant_id, hc.module_id) == ("DeviceToCloud", PLANT, HC_MODULE)
    assert isinstance(cloud, OtherEvent)
    assert (cloud.event_type, cloud.event_id) == ("org.example.event", "ce-1")
    assert cloud.event_time is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"setPoint": {"value": "warm", "unit": "C"}}, "$.data.chronothermostats[0]."),
        ({"mode": 5}, "$.data.chronothermostats[0].mode"),
    ],
)
async def test_a_thermostat_status_that_does_not_fit_is_acknowledged_and_given_raw(
    change: dict[str, Any], problem: str
) -> None:
    body = copy.deepcopy(EVENT)
    body[0]["data"]["chronothermostats"][0].update(change)
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        assert (await http.post(HOOK, json=body)).status_code == 200
        assert (await http.post(HOOK, json=[{**EVENT[0], "id": "next"}])).status_code == 200
    bad, good = await take(receiver, 2)
    assert isinstance(bad, OtherEvent)
    assert bad.problem is not None
    assert problem in bad.problem
    assert bad.raw == body[0]
    assert (bad.event_type, bad.plant_id) == ("DeviceToCloud", PLANT)
    assert isinstance(good, ThermostatEvent)
    assert (receiver.received, receiver.other, receiver.invalid) == (2, 0, 1)


@pytest.mark.asyncio
async def test_data_as_json_text_carrying_thermostats_is_a_thermostat_event() -> None:
    body = copy.deepcopy(EVENT)
    body[0]["data"] = json.dumps(body[0]["data"])
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        assert (await http.post(HOOK, json=body)).status_code == 200
    (event,) = await take(receiver, 1)
    assert isinstance(event, ThermostatEvent)
    assert (event.plant_id, event.module_id, event.status.mode) == (PLANT, MODULE, Mode.AUTOMATIC)
    assert receiver.other == 0


@pytest.mark.asyncio
async def test_a_consumer_that_stops_mid_delivery_leaves_the_rest_to_the_next() -> None:
    body = copy.deepcopy(EVENT)
    status = body[0]["data"]["chronothermostats"][0]
    body[0]["data"]["chronothermostats"] = [status, status, status]
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        assert (await http.post(HOOK, json=[*body, DELETED])).status_code == 200
    first = await take(receiver, 1)
    rest = await take(receiver, 3)
    assert [type(e) for e in first + rest] == [ThermostatEvent] * 3 + [OtherEvent]


@pytest.mark.asyncio
async def test_twenty_five_unmodelled_deliveries_are_no_failure() -> None:
    """Legrand bans after 20 failures: 25 deliveries it does not model must all be 2xx."""
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        statuses = [
            (await http.post(HOOK, json=[other(id=f"e-{i}", eventType=f"T{i}")])).status_code
            for i in range(25)
        ]
    assert statuses == [200] * 25
    assert (receiver.received, receiver.other, receiver.rejected) == (25, 25, 0)


# ------------------------------------------------------------------------------ 400 stays

NOT_DELIVERIES = {
    "not JSON": b"{nope",
    "not UTF-8": b"\xff\xfe[]",
    "null": b"null",
    "a number": b"5",
    "a string": b'"text"',
    "an array of numbers": b"[1, 2]",
    "an array of arrays": b"[[]]",
    "an object with no event key": b'{"name": "x"}',
    "an empty object": b"{}",
    "one item is not an event": b'[{"id": "a"}, 3]',
    "empty body": b"",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("body", NOT_DELIVERIES.values(), ids=NOT_DELIVERIES)
async def test_a_body_that_is_not_a_delivery_is_400(body: bytes) -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        assert (await http.post(HOOK, content=body)).status_code == 400
        assert (await http.post(HOOK, json=EVENT)).status_code == 200  # and it goes on
    assert (receiver.rejected, receiver.received) == (1, 1)


# ------------------------------------------------------------------- parse_notification too


def test_parse_notification_gives_other_events() -> None:
    events = parse_notification([VALIDATION[0], DELETED, *EVENT, HC_EVENT])
    deleted, thermostat, hc = events
    assert isinstance(deleted, OtherEvent)
    assert deleted.event_type == "Microsoft.EventGrid.SubscriptionDeletedEvent"
    assert isinstance(thermostat, ThermostatEvent)
    assert isinstance(hc, OtherEvent)
    assert hc.module_id == HC_MODULE


def test_parse_notification_still_names_a_status_that_does_not_fit() -> None:
    body = copy.deepcopy(EVENT)
    body[0]["data"]["chronothermostats"][0]["mode"] = 5
    with pytest.raises(ResponseValidationError) as info:
        parse_notification(body)
    assert info.value.errors[0].endswith("@ $[0].data.chronothermostats[0].mode")


# ------------------------------------------------------------------------------ properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "eventType": JSON | st.sampled_from(["DeviceToCloud", DELETED["eventType"]]),
        "type": JSON,
        "data": JSON | st.builds(lambda d: {"chronothermostats": d}, JSON),
        "eventTime": JSON,
        "subject": JSON,
        "subjectElements": JSON,
    },
).filter(lambda e: bool(e.keys() & {"id", "eventType", "type", "data"}))
DELIVERIES = st.lists(EVENTS, max_size=4) | EVENTS


def _expected(body: Any) -> int:
    """How many events the consumer gets: per event, its thermostats, or one OtherEvent."""
    seen: set[str] = set()
    count = 0
    for item in body if isinstance(body, list) else [body]:
        if is_validation(item) or (isinstance(item.get("id"), str) and item["id"] in seen):
            continue
        if isinstance(item.get("id"), str):
            seen.add(item["id"])
        try:
            count += len(read_event(item))
        except ResponseValidationError:
            count += 1
    return count


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DELIVERIES)
def test_any_event_grid_delivery_is_200_and_reaches_the_consumer(body: Any) -> None:
    async def main() -> None:
        receiver = WebhookReceiver(SECRET)
        async with posting(receiver) as http:
            response = await http.post(HOOK, content=json.dumps(body).encode())
        assert response.status_code == 200
        events = await take(receiver, _expected(body))
        assert all(isinstance(e, ThermostatEvent | OtherEvent) for e in events)

    anyio.run(main)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_200_when_it_is_events_and_400_otherwise(body: Any) -> None:
    items = body if isinstance(body, list) else [body]
    events = all(
        isinstance(i, dict) and bool(i.keys() & {"id", "eventType", "type", "data"}) for i in items
    )

    async def main() -> int:
        receiver = WebhookReceiver(SECRET)
        async with posting(receiver) as http:
            return (await http.post(HOOK, content=json.dumps(body).encode())).status_code

    assert anyio.run(main) == (200 if events else 400)


# ------------------------------------------------------------------------------ end to end


@pytest.mark.asyncio
async def test_end_to_end_the_simulator_delivers_what_it_does_not_model() -> None:
    receiver = WebhookReceiver(SECRET)
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0)
    plant = sim.plants[0].id
    async with serving(receiver) as port, sim.client() as client:
        url = f"https://127.0.0.1:{port}/legrand/hook/{SECRET}"
        await client.smarther.ensure_subscription(plant, url)
        answers = [
            await sim.push(plant, body)
            for body in (VALIDATION, [DELETED], [HC_EVENT], [UNKNOWN], CLOUD_EVENT)
        ]
        unmodelled = [await sim.push(plant, [other(id=f"e-{i}")]) for i in range(20)]
        garbage = await sim.push(plant, b"{not json")
    assert answers == [[(url, 200)]] * 5
    assert unmodelled == [[(url, 200)]] * 20
    assert garbage == [(url, 400)]
    events = await take(receiver, 24)
    assert all(isinstance(e, OtherEvent) for e in events)
    assert events[0].event_type == DELETED["eventType"]
    assert (receiver.received, receiver.other, receiver.rejected) == (24, 24, 1)


# -------------------------------------------------------------------- with or without orjson


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        b'[{"id": "big", "eventType": "X", "data": {"n": 123456789012345678901234567890}}]',
        b'[{"id": "nan", "eventType": "X", "data": {"n": NaN, "m": -Infinity}}]',
    ],
)
async def test_json_that_orjson_refuses_is_read_with_json(body: bytes) -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        assert (await http.post(HOOK, content=body)).status_code == 200
    (event,) = await take(receiver, 1)
    assert isinstance(event, OtherEvent)
    assert event.event_type == "X"


@pytest.mark.asyncio
@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "json"])
async def test_the_same_answers_with_or_without_orjson(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from legrand_async import _json

    if not fast:
        monkeypatch.setattr(_json, "_fast_loads", None)
    receiver = WebhookReceiver(SECRET)
    bodies = [json.dumps(b).encode() for b, _, _ in WELL_FORMED.values()]
    async with posting(receiver) as http:
        good = [(await http.post(HOOK, content=b)).status_code for b in bodies]
        bad = [(await http.post(HOOK, content=b)).status_code for b in NOT_DELIVERIES.values()]
    assert good == [200] * len(bodies)
    assert bad == [400] * len(bad)
