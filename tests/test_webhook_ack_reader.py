"""What the acknowledgement reads from a body, with pysimdjson and without: the same answers for
every body, bodies pysimdjson refuses, and the booking of acknowledged deliveries off the
answer's path (observed as if each had been booked at once)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async._ack import OTHER, THERMOSTAT, VALIDATION, AckReader, code_of
from legrand_async.webhooks import WebhookReceiver

from .webhook_helpers import call, delivery, take

pytest.importorskip("simdjson")  # the "webhooks" extra, in the dev install


def _whole() -> AckReader:
    """The reader without pysimdjson (the whole body parsed)."""
    reader = AckReader()
    reader._parser = None
    return reader


_TEXT = st.text(max_size=12)
_KEYS = st.sampled_from(
    ["id", "eventType", "type", "data", "subject", "chronothermostats", "validationCode", "x"]
)
_TYPES = st.sampled_from(
    [
        "DeviceToCloud",
        "Microsoft.EventGrid.SubscriptionValidationEvent",
        "microsoft.eventgrid.subscriptionvalidationevent",
        "Microsoft.EventGrid.SubscriptionDeletedEvent",
    ]
)
_LEAVES = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT | _TYPES
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(_KEYS, _JSON, max_size=5), max_size=3) | _JSON)
def test_both_readers_give_the_same_kinds_ids_and_codes(body: Any) -> None:
    raw = json.dumps(body).encode()
    assert AckReader().read(raw) == _whole().read(raw)


def test_an_event_grid_delivery_is_read_without_building_it() -> None:
    body = json.dumps(
        [
            delivery("t-1")[0],
            {"id": "o-1", "eventType": "Microsoft.EventGrid.SubscriptionDeletedEvent"},
            {
                "id": "v",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "data": {"validationCode": "code-1"},
            },
            {"id": "s-1", "type": "X", "data": json.dumps({"chronothermostats": []})},
        ]
    ).encode()
    found = AckReader().read(body)
    assert found == [
        (THERMOSTAT, "t-1"),
        (OTHER, "o-1"),
        (VALIDATION, "code-1"),
        (THERMOSTAT, "s-1"),
    ]
    assert found is not None
    assert code_of(found) == "code-1"


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id": "a", "eventType": "X", "data": {"v": NaN}}]',  # NaN: json reads it
        b'[{"id": "a", "eventType": "X", "data": {"v": 1e400}}]',
        b'[{"id": "a", "eventType": "X", "data": {"v": 123456789012345678901234567890}}]',
        b'[{"id": "a", "eventType": "X", "data": {"v": -9223372036854775809}}]',
        '[{"id": "a", "eventType": "X"}]'.encode("utf-16"),  # with its byte order mark
        b'[{"id": "a", "eventType": "X", "data": ' + b"[" * 1500 + b"]" * 1500 + b"}]",
        b'[{"id": "a", "eventType": "X", "data": "\\ud800"}]',  # a lone surrogate escaped
        b"\xef\xbb\xbf" + b'[{"id": "a", "eventType": "X"}]',
    ],
)
def test_bodies_pysimdjson_refuses_are_read_whole_and_the_parser_still_works(body: bytes) -> None:
    reader = AckReader()
    assert reader.read(body) == _whole().read(body)
    assert reader.read(json.dumps(delivery("next")).encode()) == [(THERMOSTAT, "next")]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"null",
        b"5",
        b'"text"',
        b"[1]",
        b'[{"no": "event keys"}]',
        b"[{}]",
        b'[{"id": "a"}] trailing',
        b"\xff\xfe\x00",
        b'[{"id": "a"},]',
        b"{" * 5000,
    ],
)
def test_what_is_not_a_delivery_is_refused_by_both(body: bytes) -> None:
    assert AckReader().read(body) is None
    assert _whole().read(body) is None


def test_a_repeated_key_is_read_by_its_first_value_with_pysimdjson() -> None:
    body = b'[{"id": "first", "id": "last", "eventType": "X"}]'
    assert AckReader().read(body) == [(OTHER, "first")]
    assert _whole().read(body) == [(OTHER, "last")]  # json and orjson keep the last


# ------------------------------------------------------------ booking off the answer's path


@pytest.mark.asyncio
async def test_counters_and_sizes_read_after_answers_count_every_delivery() -> None:
    receiver = WebhookReceiver("0123456789abcdef-secret", queue_size=3)
    for i in range(5):
        body = json.dumps([delivery(f"e{i}")[0], delivery("dup")[0]]).encode()
        assert (await call(receiver, body, path="/h/0123456789abcdef-secret")).status == 200
    assert (receiver.received, receiver.duplicates, receiver.dropped) == (6, 4, 3)
    assert receiver.queued == 3
    assert [e.event_id for e in await take(receiver, 3)] == ["e2", "e3", "e4"]
    assert (receiver.queued, receiver.queued_bytes) == (0, 0)


@pytest.mark.asyncio
async def test_deliveries_waiting_to_be_booked_stay_within_the_queue_bounds() -> None:
    receiver = WebhookReceiver(
        "0123456789abcdef-secret", queue_size=10, max_body=4096, queue_bytes=8192
    )
    body = json.dumps(delivery("x")).encode()
    for i in range(200):
        one = body.replace(b'"x"', f'"x{i}"'.encode())
        await call(receiver, one, path="/h/0123456789abcdef-secret")
        unbooked = receiver._queue._arrivals
        assert len(unbooked) <= 10
        assert sum(len(b) for b, _, _ in unbooked) <= 8192
    assert receiver.received == receiver.dropped + receiver.queued == 200
    assert receiver.queued_bytes <= 8192


@pytest.mark.asyncio
async def test_each_delivery_is_booked_with_its_arrival_time(clock: Any) -> None:
    receiver = WebhookReceiver("0123456789abcdef-secret", dedup_seconds=60, clock=clock)
    path = "/h/0123456789abcdef-secret"
    await call(receiver, json.dumps(delivery("a")).encode(), path=path)
    clock.advance(61)  # booked after this, the first "a" still counts as seen at 0
    await call(receiver, json.dumps(delivery("a")).encode(), path=path)
    assert (receiver.received, receiver.duplicates) == (2, 0)
