"""C2C webhooks: the parser, the receiver, ensure_subscription, and end to end."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legrand_async import SetStatus
from legrand_async._converters import make_converter, structure, warm
from legrand_async.errors import ResponseValidationError
from legrand_async.models.smarther import ChronothermostatStatus, Mode
from legrand_async.simulator import Simulator
from legrand_async.webhooks import (
    OtherEvent,
    ThermostatEvent,
    WebhookReceiver,
    parse_notification,
    validation_code,
)

from .conftest import MODULE, PLANT, load
from .webhook_helpers import posting, serving, take

SECRET = "s3cret-0123456789abcdef"
HOOK = f"http://receiver.test/legrand/hook/{SECRET}"
SM = "/smarther/v2.0"
URL = f"https://example.org/hook/{SECRET}"

EVENT = load("smarther_c2c_event.json")
VALIDATION = load("hc_webhook_validation.json")


def event(event_id: str = "ev-1", **status: Any) -> list[dict[str, Any]]:
    """The fixture notification with its own event id and status fields overridden."""
    body = copy.deepcopy(EVENT)
    body[0]["id"] = event_id
    body[0]["data"]["chronothermostats"][0].update(status)
    return body


def status() -> dict[str, Any]:
    return copy.deepcopy(EVENT[0]["data"]["chronothermostats"][0])


def problems(body: Any) -> list[str]:
    with pytest.raises(ResponseValidationError) as info:
        parse_notification(body)
    return info.value.errors


# ------------------------------------------------------------------------------ the parser


def test_parses_the_fixture() -> None:
    (ev,) = parse_notification(json.dumps(EVENT).encode())
    assert isinstance(ev, ThermostatEvent)
    assert ev.plant_id == PLANT  # no "bs_cloud_"
    assert ev.module_id == MODULE
    assert isinstance(ev.status, ChronothermostatStatus)
    assert ev.status.mode is Mode.AUTOMATIC
    assert ev.status.setpoint == 19.0
    assert ev.status.programs == [1]
    assert ev.status.temperature == 20.0
    assert ev.status.humidity == 60.0
    assert ev.event_time == datetime(2021, 1, 5, 17, 53, 22, tzinfo=UTC)
    assert ev.event_id == "495def51-34ad-aa94-9fff-24562f3eb5cc"


@pytest.mark.parametrize("kind", ["bytes", "str", "parsed", "memoryview"])
def test_accepts_bytes_text_or_parsed(kind: str) -> None:
    text = json.dumps(EVENT)
    body: Any = {
        "bytes": text.encode(),
        "str": text,
        "parsed": EVENT,
        "memoryview": memoryview(text.encode()),
    }[kind]
    assert parse_notification(body)[0].module_id == MODULE


def test_single_object_instead_of_array() -> None:
    (ev,) = parse_notification(json.dumps(EVENT[0]))
    assert (ev.plant_id, ev.module_id) == (PLANT, MODULE)


def test_without_data_envelope() -> None:
    (ev,) = parse_notification({"chronothermostats": [status()]})
    assert (ev.plant_id, ev.module_id, ev.event_id, ev.event_time) == (PLANT, MODULE, None, None)


def test_data_as_json_text() -> None:
    body = event()
    body[0]["data"] = json.dumps(body[0]["data"])
    (ev,) = parse_notification(body)
    assert (ev.plant_id, ev.module_id, ev.status.mode) == (PLANT, MODULE, Mode.AUTOMATIC)
    body[0]["data"] = "{not json"
    assert problems(body) == ["not JSON @ $[0].data"]


def test_cloud_events_names_for_type_and_time() -> None:
    body = event()
    item = body[0]
    item["type"], item["time"] = item.pop("eventType"), item.pop("eventTime")
    (ev,) = parse_notification(body)
    assert ev.event_time == datetime(2021, 1, 5, 17, 53, 22, tzinfo=UTC)
    validation = copy.deepcopy(VALIDATION)
    validation[0]["type"] = validation[0].pop("eventType")
    assert validation_code(validation) == "7d4b4c96-4964-4763-abdd-b9a1efdef632"
    assert parse_notification(validation) == []


@pytest.mark.parametrize("when", ["", None])
def test_empty_event_time_is_none(when: str | None) -> None:
    body = event()
    body[0]["eventTime"] = when
    (ev,) = parse_notification(body)
    assert ev.event_time is None


@pytest.mark.parametrize("number", [3, "3"])
def test_program_number_int_or_string(number: int | str) -> None:
    (ev,) = parse_notification(event(programs=[{"number": number}]))
    assert ev.status.programs == [3]


@pytest.mark.parametrize("address_type", ["AddressLocation", "addressLocation", "ADDRESSLOCATION"])
def test_address_location_in_any_case(address_type: str) -> None:
    raw = status()
    raw["sender"]["addressType"] = address_type
    (ev,) = parse_notification(event(sender=raw["sender"]))
    assert (ev.plant_id, ev.module_id) == (PLANT, MODULE)


def test_plant_id_from_subject_elements_without_sender() -> None:
    body = event()
    del body[0]["data"]["chronothermostats"][0]["sender"]
    body[0]["subject"] = "///bs_cloud_other//"  # subjectElements wins over subject
    (ev,) = parse_notification(body)
    assert ev.plant_id == PLANT
    assert ev.module_id is None


def test_plant_id_from_subject_without_subject_elements() -> None:
    body = event()
    del body[0]["data"]["chronothermostats"][0]["sender"]
    del body[0]["subjectElements"]
    (ev,) = parse_notification(body)
    assert ev.plant_id == PLANT


def test_plant_id_from_sender_wins() -> None:
    body = event()
    body[0]["subjectElements"]["plantId"] = "bs_cloud_somewhere-else"
    assert parse_notification(body)[0].plant_id == PLANT


def test_plant_id_prefix_stripped_from_sender_too() -> None:
    raw = status()
    raw["sender"]["plant"]["id"] = f"bs_cloud_{PLANT}"
    assert parse_notification(event(sender=raw["sender"]))[0].plant_id == PLANT


def test_several_events_and_thermostats() -> None:
    body = event("a") + event("b")
    body[1]["data"]["chronothermostats"].append(status())
    events = parse_notification(body)
    assert [e.event_id for e in events] == ["a", "b", "b"]


def test_validation_event_is_skipped_and_its_code_read() -> None:
    assert parse_notification(VALIDATION) == []
    assert validation_code(json.dumps(VALIDATION)) == "7d4b4c96-4964-4763-abdd-b9a1efdef632"
    assert validation_code(VALIDATION[0]) == "7d4b4c96-4964-4763-abdd-b9a1efdef632"
    assert validation_code(EVENT) is None
    assert parse_notification([]) == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"{not json", "@ $"),
        (b"\xff\xfe", "@ $"),
        ("null", "@ $"),
        ('"text"', "@ $"),
        ("[1, 2]", "@ $[0]"),
        ("{}", "@ $"),
        ('[{"id": "a"}, {"name": "no event key"}]', "@ $[1]"),
        ('{"chronothermostats": {}}', "@ $.chronothermostats"),
        ('[{"data": {"chronothermostats": [1]}}]', "@ $[0].data.chronothermostats[0]"),
        (
            '[{"data": {"chronothermostats": [{"mode": "manual"}]}}]',
            "@ $[0].data.chronothermostats[0].function",
        ),
        ('[{"eventTime": 5, "data": {"chronothermostats": []}}]', "@ $[0].eventTime"),
        ('[{"eventTime": "yesterday", "data": {"chronothermostats": []}}]', "@ $[0].eventTime"),
    ],
)
def test_malformed_bodies_name_the_path(body: Any, path: str) -> None:
    errors = problems(body)
    assert errors
    assert errors[0].endswith(path), errors


def test_bad_status_value_names_the_path() -> None:
    errors = problems(event(setPoint={"value": "warm", "unit": "C"}))
    assert len(errors) == 1
    assert "$[0].data.chronothermostats[0]." in errors[0]
    assert "value" in errors[0]


def test_message_names_the_problem() -> None:
    with pytest.raises(ResponseValidationError, match=r"chronothermostats"):
        parse_notification({"data": {"chronothermostats": 5}})


def test_deeply_nested_json_is_a_validation_error() -> None:
    problems(b"[" * 100_000)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["function", "mode", "setPoint", "programs", "sender", "online", "time", "loadState"]
)
STATUSES = st.dictionaries(KEYS, JSON, max_size=6) | JSON
NOTIFICATIONS = st.lists(
    st.fixed_dictionaries(
        {"data": st.fixed_dictionaries({"chronothermostats": st.lists(STATUSES, max_size=3)})},
        optional={"id": JSON, "eventTime": JSON, "subject": JSON, "subjectElements": JSON},
    ),
    max_size=3,
)


def _total(body: Any) -> None:
    try:
        result = parse_notification(body)
    except ResponseValidationError:
        return
    assert isinstance(result, list)
    assert all(isinstance(e, ThermostatEvent | OtherEvent) for e in result)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | NOTIFICATIONS)
def test_arbitrary_json_is_a_list_or_a_validation_error(body: Any) -> None:
    _total(body)
    _total(json.dumps(body))
    with suppress(ResponseValidationError):
        validation_code(body)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_list_or_a_validation_error(body: bytes) -> None:
    _total(body)


# ---------------------------------------------------------------------------- the receiver


def test_secret_must_be_long_and_without_slash() -> None:
    for bad in ["short", "a/" + "x" * 20]:
        with pytest.raises(ValueError, match="secret"):
            WebhookReceiver(bad)
    assert SECRET not in repr(WebhookReceiver(SECRET))


@pytest.mark.asyncio
async def test_validation_handshake() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        response = await http.post(HOOK, json=VALIDATION)
    code = "7d4b4c96-4964-4763-abdd-b9a1efdef632"
    assert response.status_code == 200
    assert response.json() == {"validationResponse": code, "validationCode": code}
    assert receiver.received == 0
    assert receiver.rejected == 0


@pytest.mark.asyncio
async def test_notification_is_acknowledged_and_queued() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        response = await http.post(HOOK, json=event())
        with_slash = await http.post(f"{HOOK}/?x=1", json=event("ev-2"))
    assert response.status_code == with_slash.status_code == 200
    assert response.json() == {"result": 0}
    assert [e.event_id for e in await take(receiver, 2)] == ["ev-1", "ev-2"]
    assert receiver.received == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "http://receiver.test/legrand/hook/wrong-secret-0123456789",
        "http://receiver.test/legrand/hook",
        f"http://receiver.test/{SECRET}/more",
        f"http://receiver.test/hook/{SECRET}x",
    ],
)
async def test_wrong_secret_is_404(url: str) -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        response = await http.post(url, json=event())
    assert response.status_code == 404
    assert receiver.received == 0
    assert receiver.rejected == 1


@pytest.mark.asyncio
async def test_get_is_405() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        refused = await http.get(HOOK)
        assert refused.status_code == 405
        assert refused.headers["allow"] == "POST, OPTIONS"
        assert (await http.get("http://receiver.test/nope")).status_code == 404  # no hint


@pytest.mark.asyncio
async def test_malformed_is_400_and_the_app_keeps_running() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver) as http:
        for bad in [b"{nope", b"[1]", b"{}", b"\xff", b"null", b'"text"', b"[[]]"]:
            assert (await http.post(HOOK, content=bad)).status_code == 400
        assert (await http.post(HOOK, json=event())).status_code == 200
    assert receiver.rejected == 7
    assert receiver.received == 1


@pytest.mark.asyncio
async def test_deeply_nested_body_is_400() -> None:
    receiver = WebhookReceiver(SECRET)
    async with posting(receiver, raise_app_exceptions=False) as http:
        response = await http.post(HOOK, content=b"[" * 100_000)
    assert response.status_code == 400


@pytest.mark.asyncio
async def test_large_body_is_413() -> None:
    receiver = WebhookReceiver(SECRET, max_body=1024)
    async with posting(receiver) as http:
        assert (await http.post(HOOK, content=b" " * 2048)).status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as read
            for _ in range(4):
                yield b" " * 512

        assert (await http.post(HOOK, content=chunks())).status_code == 413
        assert (await http.post(HOOK, json=event())).status_code == 200
    assert receiver.rejected == 2


@pytest.mark.asyncio
async def test_duplicates_are_delivered_once(clock: Any) -> None:
    receiver = WebhookReceiver(SECRET, dedup_seconds=60, clock=clock)
    async with posting(receiver) as http:
        for _ in range(3):
            assert (await http.post(HOOK, json=event("same"))).status_code == 200
        clock.advance(61)  # out of the window: delivered again
        assert (await http.post(HOOK, json=event("same"))).status_code == 200
    assert (receiver.received, receiver.duplicates) == (2, 2)
    assert [e.event_id for e in await take(receiver, 2)] == ["same", "same"]


@pytest.mark.asyncio
async def test_bounded_queue_drops_the_oldest() -> None:
    receiver = WebhookReceiver(SECRET, queue_size=3)
    async with posting(receiver) as http:
        for i in range(5):
            assert (await http.post(HOOK, json=event(f"ev-{i}"))).status_code == 200
    assert (receiver.received, receiver.dropped) == (5, 2)
    assert [e.event_id for e in await take(receiver, 3)] == ["ev-2", "ev-3", "ev-4"]


@pytest.mark.asyncio
async def test_ack_never_waits_for_a_consumer() -> None:
    receiver = WebhookReceiver(SECRET, queue_size=5)
    async with posting(receiver) as http:
        with anyio.fail_after(5):
            for i in range(50):  # nobody consumes
                assert (await http.post(HOOK, json=event(f"ev-{i}"))).status_code == 200
    assert (receiver.received, receiver.dropped) == (50, 45)


@pytest.mark.asyncio
async def test_consumer_waiting_gets_events_as_they_arrive() -> None:
    receiver = WebhookReceiver(SECRET)
    consumer = asyncio.create_task(take(receiver, 2))
    await asyncio.sleep(0)
    async with posting(receiver) as http:
        await http.post(HOOK, json=event("a"))
        await asyncio.sleep(0)
        await http.post(HOOK, json=event("b"))
    assert [e.event_id for e in await consumer] == ["a", "b"]


@pytest.mark.asyncio
async def test_two_waiting_consumers_share_the_events() -> None:
    receiver = WebhookReceiver(SECRET)
    got: list[str] = []
    progress = asyncio.Condition()

    async def consume() -> None:
        async with aclosing(receiver.events()) as events:
            async for ev in events:
                async with progress:
                    got.append(str(ev.event_id))
                    progress.notify_all()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        tg.start_soon(consume)
        await asyncio.sleep(0)
        async with posting(receiver) as http:
            for batch in (["a", "b", "c"], ["d"], ["e", "f"]):
                for event_id in batch:
                    await http.post(HOOK, json=event(event_id))
                seen = ord(batch[-1]) - ord("a") + 1

                def all_seen(n: int = seen) -> bool:
                    return len(got) == n

                with anyio.fail_after(2):  # every batch is consumed: nobody waits on a stale event
                    async with progress:
                        await progress.wait_for(all_seen)
        tg.cancel_scope.cancel()
    assert sorted(got) == ["a", "b", "c", "d", "e", "f"]


def test_a_receiver_generates_its_structure_hooks_up_front() -> None:
    raw = load("smarther_c2c_event.json")[0]["data"]["chronothermostats"][0]

    def code_generated_by_first_structure(warmed: bool) -> int:
        converter = make_converter()
        if warmed:
            warm(ChronothermostatStatus, converter=converter)
        with mock.patch("builtins.compile", wraps=compile) as compiled:
            structure(raw, ChronothermostatStatus, converter=converter)
        return compiled.call_count

    assert code_generated_by_first_structure(warmed=False) > 0  # the control: cattrs is lazy
    assert code_generated_by_first_structure(warmed=True) == 0


# ------------------------------------------------------------------------------ end to end


@pytest.mark.asyncio
async def test_end_to_end_simulator_to_receiver() -> None:
    receiver = WebhookReceiver(SECRET)
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0)
    plant = sim.plants[0]
    module = plant.module_ids[0]
    async with serving(receiver) as port, sim.client() as client:
        url = f"https://127.0.0.1:{port}/hook/{SECRET}"
        sid = await client.smarther.ensure_subscription(plant.id, url)
        assert await client.smarther.ensure_subscription(plant.id, url) == sid  # idempotent
        await client.smarther.set_status(plant.id, module, SetStatus.manual(22.5))
        deliveries = await sim.delivered()
        assert deliveries == [(url, 200)]
        (ev,) = await take(receiver, 1, seconds=5)
    assert (ev.plant_id, ev.module_id) == (plant.id, module)
    assert ev.status.mode is Mode.MANUAL
    assert ev.status.setpoint == 22.5
    assert receiver.rejected == 0
