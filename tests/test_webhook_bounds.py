"""The receiver under abuse: stalled and trickled bodies, many uploads at once, floods of ids,
and secrets of every shape.

Timing tests run under trio with its MockClock (``autojump_threshold=0``: time jumps to the
next deadline as soon as every task waits), so a 5 s read timeout takes no real time; they also
show that the receiver runs under trio.
"""

from __future__ import annotations

import copy
import json
import socket
import tracemalloc
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
import trio
import trio.testing

from legrand_async.simulator import Simulator
from legrand_async.webhooks import ThermostatEvent, WebhookReceiver

from .conftest import load
from .webhook_helpers import SECRETS, serving

SECRET = "s3cret-0123456789abcdef"
PATH = f"/legrand/hook/{SECRET}"
EVENT = load("smarther_c2c_event.json")
BODY = json.dumps(EVENT).encode()

Receive = Callable[[], Awaitable[dict[str, Any]]]


def run_with_mock_clock(main: Callable[[trio.testing.MockClock], Awaitable[None]]) -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(main, clock, clock=clock)


async def call(
    app: WebhookReceiver, receive: Receive, path: str = PATH, headers: Any = ()
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Drive ``app`` as an ASGI server would; the status, headers and body of its answer."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": list(headers)}
    await app(scope, receive, send)
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def chunks(*parts: bytes, then_stall: bool = False, every: float = 0.0) -> Receive:
    """A receive giving ``parts`` (``every`` seconds apart), then nothing ever if told."""
    queue = list(parts)

    async def receive() -> dict[str, Any]:
        if every:
            await anyio.sleep(every)
        if not queue:
            await anyio.sleep_forever()
        part = queue.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(queue) or then_stall}

    return receive


# ------------------------------------------------------------------------ the read timeout


def test_a_body_that_never_comes_is_cut_off_after_the_read_timeout() -> None:
    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, read_timeout=5)
        status, headers, _ = await call(receiver, chunks(then_stall=True))
        assert status == 408
        assert headers[b"connection"] == b"close"
        assert clock.current_time() == pytest.approx(5)
        assert receiver.rejected == 1

    run_with_mock_clock(main)


def test_a_body_that_stalls_halfway_is_cut_off_and_frees_what_it_held() -> None:
    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, read_timeout=5)
        status, _, _ = await call(receiver, chunks(BODY[:100], then_stall=True))
        assert (status, clock.current_time(), receiver.buffered) == (408, pytest.approx(5), 0)

    run_with_mock_clock(main)


def test_a_trickled_body_is_timed_as_a_whole_not_per_chunk() -> None:
    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, read_timeout=5)
        trickle = chunks(*(bytes([b]) for b in BODY), every=0.5)  # each chunk well in time
        status, _, _ = await call(receiver, trickle)
        assert (status, clock.current_time()) == (408, pytest.approx(5))

    run_with_mock_clock(main)


def test_a_body_in_several_chunks_within_the_timeout_is_acknowledged() -> None:
    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, read_timeout=5)
        parts = [BODY[i : i + 400] for i in range(0, len(BODY), 400)]
        status, _, body = await call(receiver, chunks(*parts, every=1))
        assert (status, body) == (200, b'{"result":0}')
        assert clock.current_time() == pytest.approx(len(parts))
        assert (receiver.received, receiver.buffered) == (1, 0)
        async for event in receiver.events():
            assert isinstance(event, ThermostatEvent)
            break

    run_with_mock_clock(main)


def test_a_client_that_goes_away_is_no_acknowledgement() -> None:
    """Nor any answer: ASGI servers may raise on a send to a client that is gone."""

    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET)
        sent = iter([{"type": "http.request", "body": BODY[:10], "more_body": True}])

        async def receive() -> dict[str, Any]:
            return next(sent, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            raise OSError("the client is gone")

        scope = {"type": "http", "method": "POST", "path": PATH, "headers": []}
        await receiver(scope, receive, send)
        assert (receiver.rejected, receiver.received, receiver.buffered) == (1, 0, 0)

    run_with_mock_clock(main)


# ---------------------------------------------------------------------- many stalled uploads


def test_400_stalled_uploads_do_not_grow_memory_without_bound() -> None:
    """Each sends 32 KiB and stalls: together they hold at most ``max_buffered``, the uploads
    past it are refused at once, and the read timeout frees the rest."""
    chunk = 32 * 1024
    statuses: list[int] = []

    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, read_timeout=5, max_buffered=1024 * 1024)

        async def upload() -> None:
            first = True

            async def receive() -> dict[str, Any]:
                nonlocal first
                if first:
                    first = False  # fresh bytes for each upload, as a server reads them
                    return {"type": "http.request", "body": bytes(chunk), "more_body": True}
                await anyio.sleep_forever()
                raise AssertionError  # pragma: no cover

            statuses.append((await call(receiver, receive))[0])

        tracemalloc.start()
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(400):
                    tg.start_soon(upload)
                await trio.testing.wait_all_tasks_blocked()
                held, _ = tracemalloc.get_traced_memory()
                assert receiver.buffered == 32 * chunk  # 1 MiB
                assert held < 4 * 1024 * 1024  # 400 uploads of 32 KiB would be 12.5 MiB
                assert clock.current_time() == 0
        finally:
            tracemalloc.stop()
        assert receiver.buffered == 0
        assert clock.current_time() == pytest.approx(5)

    run_with_mock_clock(main)
    assert sorted(set(statuses)) == [408, 503]
    assert (statuses.count(408), statuses.count(503)) == (32, 368)


def test_a_declared_length_over_max_body_is_refused_before_reading_the_rest() -> None:
    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, max_body=1000)
        first = iter([{"type": "http.request", "body": b"[" * 10, "more_body": True}])

        async def receive() -> dict[str, Any]:
            return next(first)  # StopIteration (a failure) if read past the first chunk

        status, headers, _ = await call(receiver, receive, headers=[(b"content-length", b"1001")])
        assert (status, headers[b"connection"], receiver.buffered) == (413, b"close", 0)

    run_with_mock_clock(main)


# ---------------------------------------------------------------------- the duplicate window


def _delivery(event_id: str) -> bytes:
    body = copy.deepcopy(EVENT)
    body[0]["id"] = event_id
    return json.dumps(body).encode()


@pytest.mark.asyncio
async def test_the_duplicate_filter_keeps_a_bounded_window_of_ids(clock: Any) -> None:
    receiver = WebhookReceiver(SECRET, dedup_size=3, dedup_seconds=600, clock=clock)
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as http:
        for event_id in ["a", "b", "c", "c", "d"]:  # "d" pushes "a" out of the window
            assert (await http.post(PATH, content=_delivery(event_id))).status_code == 200
        assert (receiver.received, receiver.duplicates) == (4, 1)
        for event_id in ["d", "a"]:
            assert (await http.post(PATH, content=_delivery(event_id))).status_code == 200
    assert (receiver.received, receiver.duplicates) == (5, 2)


@pytest.mark.asyncio
async def test_a_flood_of_ids_keeps_the_window_at_its_size(clock: Any) -> None:
    receiver = WebhookReceiver(SECRET, dedup_size=100, queue_size=10, clock=clock)
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as http:
        for i in range(1000):
            await http.post(PATH, content=_delivery(f"flood-{i}"))
        await http.post(PATH, content=_delivery("flood-899"))  # forgotten: delivered again
        await http.post(PATH, content=_delivery("flood-999"))  # remembered
    assert (receiver.received, receiver.duplicates, receiver.dropped) == (1001, 1, 991)


@pytest.mark.parametrize(
    "options",
    [
        {"dedup_size": 0},
        {"dedup_seconds": -1},
        {"dedup_seconds": float("inf")},
        {"read_timeout": 0},
        {"read_timeout": float("nan")},
        {"read_timeout": 10**400},
        {"max_body": 0},
        {"max_buffered": 10, "max_body": 100},
    ],
)
def test_bounds_must_be_sensible(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        WebhookReceiver(SECRET, **options)


@pytest.mark.parametrize(
    "options",
    [{"read_timeout": "5"}, {"queue_size": True}, {"max_body": 1024.0}, {"dedup_seconds": None}],
)
def test_bounds_of_the_wrong_type_are_type_errors(options: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=next(iter(options))) as info:
        WebhookReceiver(SECRET, **options)
    assert isinstance(info.value, ValueError)  # docs/webhooks.md: "anything else is a ValueError"


# -------------------------------------------------------------------------------- secrets


def _url(secret: str, base: str = "http://receiver.test/legrand/hook") -> str:
    return f"{base}/{quote(secret, safe='')}"


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", SECRETS)
async def test_every_accepted_secret_is_reachable(secret: str) -> None:
    receiver = WebhookReceiver(secret)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        assert (await http.post(_url(secret), content=BODY)).status_code == 200
        assert (await http.post(_url(secret) + "/", content=_delivery("2"))).status_code == 200
        for wrong in {secret[:-1], secret + "x", secret.upper(), secret.lower()} - {secret}:
            assert (await http.post(_url(wrong), content=BODY)).status_code == 404
    assert (receiver.received, secret in repr(receiver)) == (2, False)


@pytest.mark.asyncio
async def test_a_secret_is_compared_as_the_characters_sent() -> None:
    composed = "café-0123456789abcdef"
    decomposed = unicodedata.normalize("NFD", composed)
    receiver = WebhookReceiver(composed)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        assert (await http.post(_url(decomposed), content=BODY)).status_code == 404
        assert (await http.post(_url(composed), content=BODY)).status_code == 200


@pytest.mark.parametrize(
    ("secret", "error", "match"),
    [
        ("short", ValueError, "at least 16"),
        ("a/" + "x" * 20, ValueError, "'/'"),
        ("/" * 20, ValueError, "'/'"),
        ("lone-surrogate-\ud800-0123", ValueError, "UTF-8"),
        (b"bytes-secret-0123456789", TypeError, "str"),
        (None, TypeError, "str"),
    ],
)
def test_a_secret_that_cannot_be_reached_is_refused(secret: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        WebhookReceiver(secret)
    if isinstance(secret, str) and len(secret) > 8:
        assert secret not in str(info.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", SECRETS)
async def test_end_to_end_every_accepted_secret_is_reachable(secret: str) -> None:
    """The simulator delivers to the URL subscribed; uvicorn decodes the path."""
    receiver = WebhookReceiver(secret)
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0)
    plant = sim.plants[0].id
    async with serving(receiver) as port, sim.client() as client:
        url = _url(secret, f"https://127.0.0.1:{port}/legrand/hook")
        await client.smarther.ensure_subscription(plant, url)
        assert await sim.push(plant, EVENT) == [(url, 200)]
    assert receiver.received == 1


# ------------------------------------------------------------------------------ end to end


@pytest.mark.asyncio
async def test_end_to_end_a_stalled_upload_is_answered_408_and_closed() -> None:
    receiver = WebhookReceiver(SECRET, read_timeout=0.05)
    async with serving(receiver) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as stalled:
            head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(BODY)}\r\n\r\n"
            stalled.sendall(head.encode() + BODY[:50])
            answer = await anyio.to_thread.run_sync(_read_until_closed, stalled)
        async with httpx.AsyncClient() as http:  # and the next delivery is fine
            ok = await http.post(f"http://127.0.0.1:{port}{PATH}", content=BODY)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert ok.status_code == 200
    assert (receiver.rejected, receiver.received) == (1, 1)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_body_over_max_body_in_one_message_is_413() -> None:
    async def main(clock: trio.testing.MockClock) -> None:
        receiver = WebhookReceiver(SECRET, max_body=len(BODY) - 1)
        status, _, _ = await call(receiver, chunks(BODY))  # no content-length to go by
        assert (status, receiver.received) == (413, 0)

    run_with_mock_clock(main)


def test_a_minimal_scope_and_a_memoryview_body_are_enough() -> None:
    async def main() -> None:
        receiver = WebhookReceiver(SECRET)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": memoryview(BODY)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await receiver({"type": "http", "method": "POST", "path": PATH}, receive, send)
        assert sent[0]["status"] == 200
        await receiver({"type": "http", "path": PATH}, receive, send)  # no method: not POST
        assert sent[2]["status"] == 405
        async for event in receiver.events():
            assert isinstance(event, ThermostatEvent)
            break

    anyio.run(main)


@pytest.mark.asyncio
async def test_end_to_end_400_stalled_uploads_are_bounded_and_all_answered() -> None:
    """400 sockets each send 8 KiB of a body and stall: at most ``max_buffered`` is held, the
    uploads past it get 503 at once, the others 408 at their deadline; every socket is closed."""
    receiver = WebhookReceiver(SECRET, read_timeout=0.3, max_buffered=1024 * 1024)
    head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n".encode()
    async with serving(receiver) as port:
        streams = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(400)]
        most = 0
        for stream in streams:
            await stream.send(head + bytes(8 * 1024))
        answers: list[bytes] = []

        async def answer(stream: anyio.abc.SocketStream) -> None:
            data = b""
            with anyio.fail_after(10):
                try:
                    while True:
                        data += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
            answers.append(data.split(b" ", 2)[1])
            await stream.aclose()

        async with anyio.create_task_group() as tg:
            for stream in streams:
                tg.start_soon(answer, stream)
            while len(answers) < 400:
                most = max(most, receiver.buffered)
                await anyio.sleep(0.01)
    assert most <= 1024 * 1024
    assert sorted(set(answers)) == [b"408", b"503"]
    # When the first 503 went out, uploads of at most 8 KiB each held nearly 1 MiB: at least 127
    # were being read, and each got its 408 (more can, when a loaded sender's 8 KiB arrive in
    # parts or uploads start after others' deadlines: the bound is on bytes, checked above)
    assert answers.count(b"408") >= 1024 * 1024 // (8 * 1024) - 1
    assert (receiver.buffered, receiver.rejected) == (0, 400)
