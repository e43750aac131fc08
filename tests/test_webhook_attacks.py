"""The receiver attacked from outside: bodies a server should not send, headers that lie, the
CloudEvents handshake, floods of huge ids and bodies nobody consumes.

The receiver is driven as an ASGI app (no socket) except where the server's own handling of
the bytes is the point (a few uvicorn tests on a loopback port).
"""

from __future__ import annotations

import copy
import itertools
import json
import socket
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legrand_async.webhooks import OtherEvent, ThermostatEvent, WebhookReceiver

from .conftest import MODULE, PLANT, load
from .webhook_helpers import serving, take

SECRET = "s3cret-0123456789abcdef"
PATH = f"/legrand/hook/{SECRET}"
EVENT = load("smarther_c2c_event.json")
BODY = json.dumps(EVENT).encode()

Receive = Callable[[], Awaitable[dict[str, Any]]]


class Answer:
    """What the app sent back: status, headers (lowercase names), body; ``reads`` is how many
    times it called ``receive``."""

    def __init__(self, sent: list[dict[str, Any]], reads: int) -> None:
        self.sent = sent
        self.reads = reads
        self.status = sent[0]["status"] if sent else None
        self.headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]} if sent else {}
        self.body = b"".join(m.get("body", b"") for m in sent[1:])


async def call(
    app: WebhookReceiver,
    body: bytes | None = b"",
    *,
    method: str = "POST",
    path: str = PATH,
    headers: Any = (),
) -> Answer:
    """One request to ``app``; ``body=None`` sends headers only and then nothing, ever."""
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if body is None:
            await anyio.sleep_forever()
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    await app(scope, receive, send)
    return Answer(sent, reads)


async def drain(receiver: WebhookReceiver) -> list[Any]:
    """Every event the receiver holds: those before a last delivery posted to mark the end."""
    end = json.dumps({"id": "the end", "eventType": "end"}).encode()
    assert (await call(receiver, end)).status == 200
    got: list[Any] = []
    with anyio.fail_after(2):
        async for event in receiver.events():
            if event.event_id == "the end":
                return got
            got.append(event)
    raise AssertionError  # pragma: no cover


def delivery(event_id: str, **fields: Any) -> list[dict[str, Any]]:
    body = copy.deepcopy(EVENT)
    body[0]["id"] = event_id
    body[0].update(fields)
    return body


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


@pytest.mark.asyncio
@pytest.mark.parametrize("length", LENGTHS)
async def test_a_content_length_of_any_shape_is_no_server_error(length: bytes) -> None:
    """Servers refuse most of these; the app, mounted anywhere, must not raise on any."""
    receiver = WebhookReceiver(SECRET)
    answer = await call(receiver, BODY, headers=[(b"content-length", length)])
    assert answer.status == (413 if length.isdigit() else 200)


@pytest.mark.asyncio
async def test_a_declared_length_over_max_body_is_413_before_any_read() -> None:
    receiver = WebhookReceiver(SECRET, max_body=1000)
    answer = await call(receiver, None, headers=[(b"content-length", b"1001")])
    assert (answer.status, answer.headers["connection"], answer.reads) == (413, "close", 0)
    within = await call(receiver, b"[]", headers=[(b"content-length", b"1000")])
    assert (within.status, within.reads) == (200, 1)


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
    """Over a real socket, each on its own connection: an oversize upload that waits for
    ``100 Continue`` is refused at once, the handshake is answered, a smuggling attempt never
    reaches the app, a body shorter than declared times out, chunked uploads are read."""
    receiver = WebhookReceiver(SECRET, read_timeout=0.2, max_body=4096)

    def head(extra: str, method: str = "POST") -> bytes:
        return f"{method} {PATH} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{extra}\r\n".encode()

    small = json.dumps(delivery("chunked")).encode()
    cases = {
        "expect": head("content-length: 1000000\r\nexpect: 100-continue\r\n"),
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
        "expect": b"HTTP/1.1 413 Request Entity Too Large",  # no "100 Continue" first
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
    from legrand_async import _notifications

    if not fast:
        monkeypatch.setattr(_notifications, "_fast_loads", None)
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


# --------------------------------------------------------------------------- many events


@pytest.mark.asyncio
async def test_a_thousand_events_in_one_body_are_acknowledged_and_queued_in_order() -> None:
    receiver = WebhookReceiver(SECRET, max_body=4 * 1024 * 1024)
    events = [delivery(f"ev-{i}")[0] for i in range(1001)]
    events.insert(500, dict(events[10]))  # a duplicate within the body
    answer = await call(receiver, json.dumps(events).encode())
    assert answer.status == 200
    assert (receiver.received, receiver.duplicates, receiver.dropped) == (1001, 1, 1)
    got = await take(receiver, 1000)
    assert [e.event_id for e in got] == [f"ev-{i}" for i in range(1, 1001)]
    assert all(e.module_id == MODULE for e in got)
    assert (receiver.queued, receiver.queued_bytes) == (0, 0)


@pytest.mark.asyncio
async def test_duplicates_across_bodies_are_queued_once() -> None:
    receiver = WebhookReceiver(SECRET)
    for ids in (["a", "b"], ["b", "c"], ["a"], ["c", "d", "d"]):
        body = [delivery(i)[0] for i in ids]
        assert (await call(receiver, json.dumps(body).encode())).status == 200
    assert [e.event_id for e in await take(receiver, 4)] == ["a", "b", "c", "d"]
    assert receiver.duplicates == 4


# ----------------------------------------------------------------------- memory under floods


def _memory_of(work: Callable[[], Awaitable[None]]) -> int:
    """Bytes ``work`` left allocated (tracemalloc)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        anyio.run(work)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before


def test_a_flood_of_huge_unique_ids_does_not_grow_the_duplicate_window() -> None:
    """The window holds up to ``dedup_size`` ids: one of 100 KB each would be 1 GB at the
    default size. Long ids are remembered by a digest, and still recognised."""
    receiver = WebhookReceiver(SECRET, queue_size=1)
    huge = "x" * 100_000

    async def flood() -> None:
        for i in range(200):
            body = json.dumps([{"id": f"{i}-{huge}", "eventType": "X"}]).encode()
            assert (await call(receiver, body)).status == 200

    assert _memory_of(flood) < 2 * 1024 * 1024  # 200 ids of 100 KB would be 20 MB
    again = json.dumps([{"id": f"7-{huge}", "eventType": "X"}]).encode()
    anyio.run(call, receiver, again)
    assert (receiver.received, receiver.duplicates) == (200, 1)


def test_a_consumer_that_never_reads_holds_at_most_queue_bytes() -> None:
    """Every delivery is still 200 (a full queue is no failure): the oldest are dropped."""
    receiver = WebhookReceiver(SECRET, max_body=64 * 1024, queue_bytes=1024 * 1024)
    padding = "p" * 60_000
    statuses: list[int | None] = []

    async def flood() -> None:
        for i in range(200):  # 200 bodies of 60 KB: 12 MB if all were kept
            body = json.dumps([{"id": f"e{i}", "eventType": "X", "data": padding}]).encode()
            statuses.append((await call(receiver, body)).status)

    assert _memory_of(flood) < 2 * 1024 * 1024
    assert statuses == [200] * 200
    assert receiver.queued_bytes <= 1024 * 1024
    assert receiver.queued + receiver.dropped == 200
    events = anyio.run(take, receiver, receiver.queued)
    assert events[-1].event_id == "e199"  # the newest are kept


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 400)), st.integers(1, 5)),
        max_size=30,
    )
)
def test_the_queue_counts_each_body_once_whatever_is_dropped_or_taken(steps: list[Any]) -> None:
    """Deliveries of 1-4 events of any size and consumers taking some: the bytes counted are
    those of the bodies still queued, within both bounds, and none is lost or taken twice."""
    receiver = WebhookReceiver(SECRET, max_body=1000, queue_size=5, queue_bytes=1000)
    sent: list[str] = []
    got: list[str] = []

    async def main() -> None:
        for step in steps:
            if isinstance(step, tuple):
                count, size = step
                ids = [f"e{len(sent) + i}" for i in range(count)]
                body = [{"id": i, "eventType": "X", "data": "p" * size} for i in ids]
                answer = await call(receiver, json.dumps(body).encode()[:1000])
                if answer.status == 200:
                    sent.extend(ids)
            else:
                got.extend(e.event_id for e in await take(receiver, min(step, receiver.queued)))
            bodies = {id(body): len(body) for body, _ in receiver._queue}
            assert receiver.queued_bytes == sum(bodies.values()) <= 1000
            assert receiver.queued <= 5
        got.extend(e.event_id for e in await take(receiver, receiver.queued))

    anyio.run(main)
    assert len(got) + receiver.dropped == len(sent)
    assert got == sorted(set(got), key=got.index)  # no event twice
    assert all(sent.index(a) < sent.index(b) for a, b in itertools.pairwise(got))


@pytest.mark.parametrize("options", [{"queue_bytes": 1000}, {"queue_bytes": 0.5}])
def test_queue_bytes_must_hold_a_largest_body(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="queue_bytes"):
        WebhookReceiver(SECRET, max_body=1001, **options)


# ------------------------------------------------- requests cancelled, servers shutting down


@pytest.mark.asyncio
async def test_a_request_cancelled_from_outside_is_cancelled_and_frees_what_it_held() -> None:
    """As uvicorn cancels a request task at shutdown: the cancellation goes through (the read
    deadline does not take it for its own), the bytes held are freed, the next deadline fires."""
    import asyncio

    receiver = WebhookReceiver(SECRET, read_timeout=3600)
    parts = iter([{"type": "http.request", "body": BODY[:100], "more_body": True}])
    waiting = anyio.Event()

    async def receive() -> dict[str, Any]:
        part = next(parts, None)
        if part is None:
            waiting.set()
            await anyio.sleep_forever()
        return part  # type: ignore[return-value]

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing is answered")  # pragma: no cover

    scope = {"type": "http", "method": "POST", "path": PATH, "headers": []}
    task = asyncio.ensure_future(receiver(scope, receive, send))
    await waiting.wait()
    assert receiver.buffered == 100
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (receiver.buffered, receiver.rejected, receiver._deadlines._running) == (0, 0, {})
    quick = WebhookReceiver(SECRET, read_timeout=1e-6)
    assert (await call(quick, None)).status == 408


@pytest.mark.asyncio
@pytest.mark.parametrize("graceful", [None, 0.05], ids=["graceful", "graceful timeout"])
async def test_end_to_end_shutting_down_with_stalled_uploads_in_flight(
    graceful: float | None,
) -> None:
    """uvicorn waits for requests in progress: the read timeout bounds how long (each gets
    408). With a ``timeout_graceful_shutdown`` shorter than it, uvicorn cancels them itself
    (and answers 500 of its own): the receiver lets them go and is left clean."""
    receiver = WebhookReceiver(SECRET, read_timeout=0.3)
    head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n[".encode()
    answers: list[bytes] = []
    async with serving(receiver, timeout_graceful_shutdown=graceful) as port:
        streams = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(5)]
        for stream in streams:
            await stream.send(head)
        with anyio.fail_after(5):
            while receiver.buffered < 5:  # every upload is in the app, waiting for its body
                await anyio.sleep(0.005)
    # leaving ``serving`` waited for the server to exit: every upload was answered by then
    for stream in streams:
        data = b""
        with anyio.fail_after(5):
            try:
                while chunk := await stream.receive():
                    data += chunk
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
        answers.append(data.split(b" ", 2)[1])
        await stream.aclose()
    assert answers == ([b"408"] * 5 if graceful is None else [b"500"] * 5)
    assert (receiver.buffered, receiver._deadlines._running) == (0, {})
