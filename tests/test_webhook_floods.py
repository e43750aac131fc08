"""The receiver under floods and shutdowns: many events, huge ids, consumers that never read or
are cancelled, requests cancelled by the server, a server stopping with uploads in flight."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async.webhooks import WebhookReceiver

from .conftest import MODULE
from .webhook_helpers import BODY, PATH, SECRET, call, delivery, serving, take

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
            queued_bytes = receiver.queued_bytes  # books what was acknowledged
            bodies = {id(body): len(body) for body, _ in receiver._queue._events}
            assert queued_bytes == sum(bodies.values()) <= 1000
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
        for _ in range(1000):  # until every upload is in the app, waiting for its body
            if receiver.buffered == 5:
                break
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


# ------------------------------------------------------------------------------ consumers


@pytest.mark.asyncio
async def test_a_consumer_cancelled_mid_delivery_leaves_the_rest_to_the_next() -> None:
    """Cancelled while handling the first of three thermostats of one notification, and while
    waiting: nothing is lost, nothing is given twice."""
    receiver = WebhookReceiver(SECRET)
    three = delivery("three")
    status = three[0]["data"]["chronothermostats"][0]
    three[0]["data"]["chronothermostats"] = [
        {**status, "sender": {**status["sender"], "plant": {"id": "p", "module": {"id": m}}}}
        for m in ("m1", "m2", "m3")
    ]
    got: list[str | None] = []

    async def consume(scope: anyio.CancelScope, stop_after: int) -> None:
        with scope:
            async for event in receiver.events():
                got.append(event.module_id)
                if len(got) == stop_after:
                    scope.cancel()
                    await anyio.sleep_forever()  # cancelled while handling the event

    async with anyio.create_task_group() as tg:
        first = anyio.CancelScope()
        tg.start_soon(consume, first, 1)
        await anyio.lowlevel.checkpoint()  # the consumer waits for a delivery
        assert (await call(receiver, json.dumps(three).encode())).status == 200
    assert first.cancelled_caught
    waiting = anyio.CancelScope()
    async with anyio.create_task_group() as tg:  # one cancelled while it waits, with nothing
        tg.start_soon(consume, waiting, 99)
        await anyio.lowlevel.checkpoint()
        assert got == ["m1", "m2", "m3"]  # it took the other two at once
        waiting.cancel()
    assert (await call(receiver, json.dumps(delivery("next")).encode())).status == 200
    (event,) = await take(receiver, 1)
    assert (event.event_id, got) == ("next", ["m1", "m2", "m3"])


@pytest.mark.asyncio
async def test_a_flood_of_unique_ids_is_forgotten_by_age(clock: Any) -> None:
    receiver = WebhookReceiver(SECRET, dedup_seconds=60, queue_size=10, clock=clock)
    for i in range(500):
        body = json.dumps([{"id": f"flood-{i}", "eventType": "X"}]).encode()
        assert (await call(receiver, body)).status == 200
    assert receiver.received == 500  # (which books what was acknowledged)
    assert len(receiver._queue.dedup) == 500
    clock.advance(61)
    again = json.dumps([{"id": "flood-3", "eventType": "X"}]).encode()
    assert (await call(receiver, again)).status == 200  # out of the window: delivered again
    assert (receiver.duplicates, receiver.received, len(receiver._queue.dedup)) == (0, 501, 1)
