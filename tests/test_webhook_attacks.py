"""The receiver attacked from outside: bodies a server should not send, headers that lie, the
CloudEvents handshake (floods and shutdowns are in test_webhook_floods.py).

The receiver is driven as an ASGI app (no socket) except where the server's own handling of
the bytes is the point (a few uvicorn tests on a loopback port).
"""

from __future__ import annotations

import json
import socket
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legrand_async.webhooks import OtherEvent, ThermostatEvent, WebhookReceiver

from .conftest import PLANT
from .webhook_helpers import (
    BODY,
    EVENT,
    PATH,
    SECRET,
    SECRETS,
    call,
    delivery,
    drain,
    serving,
    take,
)

# --------------------------------------------------------------- the CloudEvents handshake


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (b"eventgrid.azure.net", "eventgrid.azure.net"),
        (None, "*"),
        (b"evil\r\nset-cookie: x", "*"),  # never echoed into a header
        (b"", "*"),
    ],
)
async def test_the_cloudevents_handshake_is_answered(origin: bytes | None, allowed: str) -> None:
    """CloudEvents v1.0 deliveries are validated with an HTTP OPTIONS request (Event Grid's
    "abuse protection"): 405 would leave such a subscription unvalidated, so nothing arrives."""
    receiver = WebhookReceiver(SECRET)
    headers = [(b"webhook-request-origin", origin)] if origin is not None else []
    answer = await call(receiver, None, method="OPTIONS", headers=headers)
    assert answer.status == 200
    assert answer.headers["webhook-allowed-origin"] == allowed
    assert answer.headers["webhook-allowed-rate"] == "*"
    assert answer.headers["allow"] == "POST, OPTIONS"
    assert answer.reads == 0  # an OPTIONS body is never waited for
    assert (receiver.received, receiver.rejected) == (0, 0)


@pytest.mark.asyncio
async def test_the_handshake_needs_the_secret_and_other_methods_are_405() -> None:
    receiver = WebhookReceiver(SECRET)
    options = [(b"webhook-request-origin", b"eventgrid.azure.net")]
    wrong = await call(receiver, method="OPTIONS", path="/legrand/hook/guess", headers=options)
    assert (wrong.status, "webhook-allowed-origin" in wrong.headers) == (404, False)
    for method in ("GET", "HEAD", "PUT", "DELETE", "PATCH", "post", "TRACE"):
        refused = await call(receiver, b"[]", method=method)
        assert (refused.status, refused.headers["allow"]) == (405, "POST, OPTIONS")
    assert receiver.rejected == 8


@pytest.mark.asyncio
async def test_a_cloudevents_delivery_is_acknowledged_and_given_raw() -> None:
    receiver = WebhookReceiver(SECRET)
    event = {
        "specversion": "1.0",
        "type": "Legrand.Smarther.Something",
        "source": "/legrand",
        "id": "ce-7",
        "time": "2026-01-12T07:00:00.1234567Z",  # Event Grid writes 7 fractional digits
        "data": {"a": 1},
    }
    for body in (event, [event], [{**event, "id": "ce-8"}, {**event, "id": "ce-7"}]):
        assert (await call(receiver, json.dumps(body).encode())).status == 200
    first, second = await take(receiver, 2)
    assert isinstance(first, OtherEvent)
    assert (first.event_type, first.event_id, first.data) == (event["type"], "ce-7", {"a": 1})
    assert first.event_time is not None
    assert first.event_time.microsecond == 123456
    assert (second.event_id, receiver.duplicates) == ("ce-8", 2)


# ----------------------------------------------------------------------- headers that lie

LENGTHS = [b"9" * 5000, b"9" * 19, b"1" + b"0" * 18, b"", b"abc", b"-1", b"+5", b"1 2", b"\xd9\xa3"]
#: Lengths with leading zeros: as small as their value says.
ZEROS = [b"0" * 5000 + b"2", b"0" * 30 + b"1000", b"000"]


@pytest.mark.asyncio
@pytest.mark.parametrize("length", LENGTHS)
async def test_a_content_length_of_any_shape_is_no_server_error(length: bytes) -> None:
    """Servers refuse most of these; the app, mounted anywhere, must not raise on any. (The
    declared length is looked at when the body does not come in one message.)"""
    receiver = WebhookReceiver(SECRET)
    answer = await call(receiver, [BODY[:10], BODY[10:]], headers=[(b"content-length", length)])
    assert answer.status == (413 if length.isdigit() else 200)


@pytest.mark.asyncio
@pytest.mark.parametrize("length", ZEROS, ids=["5000 zeros", "30 zeros", "zeros"])
async def test_a_content_length_with_leading_zeros_is_read_as_its_value(length: bytes) -> None:
    receiver = WebhookReceiver(SECRET, max_body=1000)
    answer = await call(receiver, [b"[", b"]"], headers=[(b"content-length", length)])
    assert answer.status == 200


@pytest.mark.asyncio
async def test_a_declared_length_over_max_body_is_413_after_the_first_part() -> None:
    receiver = WebhookReceiver(SECRET, max_body=1000)
    answer = await call(receiver, [b"[", b"]"], headers=[(b"content-length", b"1001")])
    assert (answer.status, answer.headers["connection"], answer.reads) == (413, "close", 1)
    within = await call(receiver, [b"[", b"]"], headers=[(b"content-length", b"1000")])
    assert (within.status, within.reads) == (200, 2)


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.asyncio
@pytest.mark.parametrize("http", ["httptools", "h11"])
async def test_end_to_end_lying_and_hostile_requests(http: str) -> None:
    """Over a real socket, each on its own connection: an oversize upload is refused at its
    first part, the handshake is answered, a smuggling attempt never reaches the app, a body
    shorter than declared times out, chunked uploads are read."""
    receiver = WebhookReceiver(SECRET, read_timeout=0.2, max_body=4096)

    def head(extra: str, method: str = "POST") -> bytes:
        return f"{method} {PATH} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{extra}\r\n".encode()

    small = json.dumps(delivery("chunked")).encode()
    cases = {
        "too large": head("content-length: 1000000\r\n") + b"[" * 1000,
        "options": head("webhook-request-origin: eventgrid.azure.net\r\n", "OPTIONS"),
        "smuggled": head("content-length: 5\r\ntransfer-encoding: chunked\r\n")
        + b"0\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
        "short": head(f"content-length: {len(BODY) + 10}\r\n") + BODY,
        "chunked": head("transfer-encoding: chunked\r\n")
        + b"".join(b"%x\r\n%s\r\n" % (len(small[i : i + 99]), small[i : i + 99]) for i in (0, 99))
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(small[198:]), small[198:]),
        "chunked, too big": head("transfer-encoding: chunked\r\n")
        + (b"1000\r\n" + b"[" * 4096 + b"\r\n") * 2
        + b"0\r\n\r\n",
    }
    async with serving(receiver, http=http) as port:
        answers = {}
        for name, request in cases.items():
            answers[name] = await anyio.to_thread.run_sync(_exchange, port, request)
    status = {name: answer.split(b"\r\n", 1)[0] for name, answer in answers.items()}
    assert status == {
        "too large": b"HTTP/1.1 413 Request Entity Too Large",
        "options": b"HTTP/1.1 200 OK",
        "smuggled": b"HTTP/1.1 400 Bad Request",  # the server's own answer
        "short": b"HTTP/1.1 408 Request Timeout",
        "chunked": b"HTTP/1.1 200 OK",
        "chunked, too big": b"HTTP/1.1 413 Request Entity Too Large",
    }
    assert b"webhook-allowed-origin: eventgrid.azure.net" in answers["options"].lower()
    assert b"500" not in b"".join(status.values())
    assert (receiver.received, receiver.buffered) == (1, 0)


# ------------------------------------------------------------ bodies a server should not send

#: Valid JSON that a strict parser may refuse: each is a well-formed delivery all the same.
ODD_JSON = {
    "byte order mark": b"\xef\xbb\xbf" + BODY,
    "integer of 5000 digits": b'[{"id": "i", "data": {"n": ' + b"7" * 5000 + b"}}]",
    "integer of 5000 digits in data text": b'[{"id": "t", "data": "{\\"n\\": '
    + b"7" * 5000
    + b'}"}]',
    "NaN and infinities": b'[{"id": "n", "data": {"a": NaN, "b": Infinity, "c": -Infinity}}]',
    "1e400 as a setpoint": json.dumps(delivery("e")).replace('"19.00000"', "1e400").encode(),
    "lone surrogate in the id": b'[{"id": "\\ud800", "eventType": "X"}]',
    "the same key twice": b'[{"id": "a", "id": "b", "eventType": "X"}]',
    "deep data text": b'[{"id": "d", "data": "' + b"[" * 100_000 + b'"}]',
    "whitespace around": b" \r\n\t" + BODY + b" \n",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "json"])
@pytest.mark.parametrize("body", ODD_JSON.values(), ids=ODD_JSON)
async def test_json_any_parser_reads_is_a_delivery(
    body: bytes, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from legrand_async import _json

    if not fast:
        monkeypatch.setattr(_json, "_fast_loads", None)
    receiver = WebhookReceiver(SECRET)
    assert (await call(receiver, body)).status == 200
    (event,) = await take(receiver, 1)
    assert isinstance(event, ThermostatEvent | OtherEvent)


_SCALARS = st.sampled_from(
    ["null", "true", "false", "0", "-0", "1e400", "-1e-400", "NaN", "Infinity", "-Infinity",
     "7" * 4400, "0.5", '""', '"\\ud800"', '"\\u0000"', '"é🔑"', '"bs_cloud_X"']
)  # fmt: skip
_KEYS = st.sampled_from(
    ["id", "eventType", "type", "data", "eventTime", "time", "subject", "subjectElements",
     "chronothermostats", "specversion", "validationCode", "plant", "x"]
)  # fmt: skip


def _object(members: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f'"{key}": {value}' for key, value in members) + "}"


JSON_TEXT = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
        | st.lists(st.tuples(_KEYS, inner), max_size=4).map(_object)
        | inner.map(lambda text: json.dumps(text))  # JSON carried as text (``data``)
    ),
    max_leaves=12,
)


def _parsed(text: str) -> Any:
    """The JSON value, as Python's json reads it (integers of any length as floats)."""

    def number(digits: str) -> int | float:
        try:
            return int(digits)
        except ValueError:
            return float(digits)

    return json.loads(text, parse_int=number)


def _is_delivery(value: Any) -> bool:
    keys = {"id", "eventType", "type", "data", "chronothermostats"}
    items = value if isinstance(value, list) else [value]
    return all(isinstance(item, dict) and bool(keys & item.keys()) for item in items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_TEXT, st.booleans())
def test_any_json_text_is_200_or_400_and_never_an_error(text: str, bom: bool) -> None:
    """JSON text of any shape (NaN, huge numbers, lone surrogates, JSON inside strings...): the
    app never raises, answers 200 exactly when it is events, and the consumer gets them all."""
    body = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass")
    value = _parsed(text)

    async def main() -> None:
        receiver = WebhookReceiver(SECRET)
        answer = await call(receiver, body)
        assert answer.status == (200 if _is_delivery(value) else 400)
        events = await drain(receiver)
        assert all(isinstance(e, ThermostatEvent | OtherEvent) for e in events)

    anyio.run(main)


@pytest.mark.asyncio
async def test_ids_the_server_sends_are_kept_as_sent() -> None:
    """Non-UUID, prefixed in capitals, unicode, huge: read, never refused."""
    receiver = WebhookReceiver(SECRET)
    huge = "p" * 50_000
    body = delivery(
        "€vent-🔑-" + "x" * 10_000,
        subject=f"///BS_CLOUD_{huge}//",
        subjectElements={"plantId": f"BS_CLOUD_{huge}"},
    )
    status = body[0]["data"]["chronothermostats"][0]
    status["sender"]["plant"] = {"id": "bs_cloud_plant-1", "module": {"id": "módulo 1"}}
    assert (await call(receiver, json.dumps(body).encode())).status == 200
    other = {"id": "o", "eventType": "DeviceToCloud", "subject": f"///Bs_Cloud_{PLANT}//"}
    assert (await call(receiver, json.dumps(other).encode())).status == 200
    event, hc = await take(receiver, 2)
    assert isinstance(event, ThermostatEvent)
    assert (event.plant_id, event.module_id) == ("plant-1", "módulo 1")
    assert event.event_id is not None
    assert event.event_id.startswith("€vent-🔑-")
    assert isinstance(hc, OtherEvent)
    assert hc.plant_id == PLANT


# ---------------------------------------------------- thermostat statuses that do not fit

STATUS = EVENT[0]["data"]["chronothermostats"][0]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _paths(inner, (*prefix, i))
    return found


ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["19.5", "HEATING", "bogus", "2026-01-12T07:00:00Z", "", "1e400"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
DELETE = object()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_paths(STATUS)[1:]), ANY_JSON | st.just(DELETE))))
def test_a_thermostat_status_with_fields_missing_extra_or_odd_is_200_and_read(
    edits: list[tuple[tuple[Any, ...], Any]],
) -> None:
    """Every field of the real notification removed, nulled or replaced by anything, extra
    fields added: 200, and the consumer gets a ThermostatEvent or an OtherEvent naming the
    problem; never an exception out of ``events()``."""
    body = delivery("fuzzed")
    status = body[0]["data"]["chronothermostats"][0]
    for path, value in edits:
        target = status
        try:
            for key in path[:-1]:
                target = target[key]
            if value is DELETE:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    status["extra"] = {"field": [1, None]}

    async def main() -> Any:
        receiver = WebhookReceiver(SECRET)
        assert (await call(receiver, json.dumps(body).encode())).status == 200
        (event,) = await take(receiver, 1)
        return event

    event = anyio.run(main)
    if isinstance(event, OtherEvent):
        assert event.problem is not None
        assert "chronothermostats[0]" in event.problem
    else:
        assert isinstance(event, ThermostatEvent)


@pytest.mark.asyncio
async def test_the_secret_is_compared_in_constant_time() -> None:
    import hmac
    from unittest import mock

    receiver = WebhookReceiver(SECRET)
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
        for path in (f"/x/{SECRET[:-1]}", f"/x/{SECRET}x", "/x/", "/", PATH):
            await call(receiver, b"[]", path=path)
    assert compare.call_count == 5
    assert all(c.args[1] == SECRET.encode() for c in compare.call_args_list)


# ------------------------------------------------------------------- secrets of every shape


@pytest.mark.asyncio
@pytest.mark.parametrize("http", ["httptools", "h11"])
async def test_end_to_end_every_accepted_secret_is_reachable_through_both_parsers(
    http: str,
) -> None:
    """One server, one receiver per secret (mounted by index): each is reached at the URL its
    secret percent-encoded gives, and refused when one character is off."""
    from urllib.parse import quote

    receivers = [WebhookReceiver(secret) for secret in SECRETS]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        index = int(scope["path"].split("/")[1]) if scope["type"] == "http" else 0
        await receivers[index](scope, receive, send)

    async with serving(app, http=http) as port, httpx.AsyncClient() as client:
        for i, secret in enumerate(SECRETS):
            url = f"http://127.0.0.1:{port}/{i}/hook/{quote(secret, safe='')}"
            assert (await client.post(url, content=BODY)).status_code == 200, secret
            assert (await client.post(url[:-1], content=BODY)).status_code == 404, secret
    assert [r.received for r in receivers] == [1] * len(SECRETS)


@pytest.mark.parametrize("kind", ["bytes", "str", "memoryview"])
def test_parse_notification_reads_a_byte_order_mark_and_huge_numbers(kind: str) -> None:
    from legrand_async.webhooks import parse_notification

    text = '\ufeff[{"id": "n", "eventType": "X", "data": {"n": ' + "7" * 5000 + "}}]"
    body: Any = {
        "bytes": text.encode(),
        "str": text,
        "memoryview": memoryview(text.encode()),
    }[kind]
    (event,) = parse_notification(body)
    assert isinstance(event, OtherEvent)
    assert event.data == {"n": float("7" * 5000)}
