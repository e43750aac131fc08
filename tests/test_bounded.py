"""Bounded responses: one deadline per attempt, a decoded-size cap, closed streams on cancel.

Deadlines are checked under trio with ``trio.testing.MockClock(autojump_threshold=0)``: the
client's timeout is an anyio cancel scope on the event loop's clock, and that clock jumps to the
next deadline whenever every task is blocked, so a server trickling one byte a second for an
hour is tested in no real time. One test trickles over a real loopback socket, for the wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import random
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
import respx
import trio
import trio.testing

from legrand_async import (
    DEFAULT_MAX_BODY_SIZE,
    LegrandClient,
    NotFound,
    OAuthApp,
    RateLimit,
    RateLimited,
    ResponseTooLarge,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from legrand_async._transport.bounded import SLACK

from .conftest import HOOK, KEY, MODULE, PLANT, TOKEN, FakeClock, load, make_client

STATUS = load("smarther_status.json")
STATUS_BYTES = httpx.Response(200, json=STATUS).content
SUBSCRIBE_ANSWER = b'{"subscriptionId":"a122e653-53fb-450e-b000-d47659807585"}'


# --- helpers ---------------------------------------------------------------------------------


class Body(httpx.AsyncByteStream):
    """A response body: ``chunks`` with ``pause`` seconds (event loop time) before each, then
    optionally blocking forever; records whether it was closed."""

    def __init__(
        self, chunks: list[bytes], *, pause: float = 0.0, hang: bool = False
    ) -> None:
        self._chunks = chunks
        self._pause = pause
        self._hang = hang
        self.closed = False
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            if self._pause:
                await anyio.sleep(self._pause)
            self.sent += len(chunk)
            yield chunk
        if self._hang:
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        self.closed = True


Answer = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Wire(httpx.AsyncBaseTransport):
    """Answers every request with ``answer(request)``; keeps the requests and bodies."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self.requests: list[httpx.Request] = []
        self.bodies: list[Body] = []
        self.responses: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self._answer(request)
        self.responses.append(response)
        if isinstance(response.stream, Body):
            self.bodies.append(response.stream)
        return response


def answer(
    status: int = 200,
    chunks: list[bytes] | None = None,
    *,
    headers: dict[str, str] | None = None,
    pause: float = 0.0,
    delay: float = 0.0,
    hang: bool = False,
) -> Answer:
    async def respond(request: httpx.Request) -> httpx.Response:
        if delay:
            await anyio.sleep(delay)  # the headers take this long
        body = Body(list(chunks if chunks is not None else [STATUS_BYTES]), pause=pause, hang=hang)
        return httpx.Response(status, headers=headers or {}, stream=body, request=request)

    return respond


def client_on(wire: httpx.AsyncBaseTransport, **kwargs: Any) -> LegrandClient:
    """A client on the event loop's clock (trio's MockClock in these tests)."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("retry", RetryPolicy(jitter=0))
    return LegrandClient(KEY, access_token=TOKEN, transport=wire, rng=random.Random(0), **kwargs)


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main`` under trio on a mock clock that jumps whenever everything is blocked."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return anyio.run(main, backend="trio", backend_options={"clock": clock})


def trickle(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


# --- one deadline per attempt ----------------------------------------------------------------


def test_a_trickling_body_ends_at_the_timeout_in_transport_error() -> None:
    wire = Wire(answer(chunks=trickle(STATUS_BYTES), pause=1.0))  # one byte a second

    async def main() -> tuple[float, TransportError, int]:
        async with client_on(wire, timeout=5.0, retry=RetryPolicy(max_attempts=1)) as client:
            start = anyio.current_time()
            with pytest.raises(TransportError) as info:
                await client.smarther.get_status(PLANT, MODULE)
            return anyio.current_time() - start, info.value, client.stats.errors["ReadTimeout"]

    elapsed, error, timeouts = run_virtual(main)
    assert elapsed == pytest.approx(5.0 + SLACK, abs=0.01)  # not the 1,400 s the trickle would take
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert "5 s timeout" in str(error)
    assert timeouts == 1
    assert wire.bodies[0].closed
    assert 0 < wire.bodies[0].sent < len(STATUS_BYTES)


def test_a_trickle_is_retried_like_a_read_timeout_on_idempotent_routes() -> None:
    wire = Wire(answer(chunks=trickle(STATUS_BYTES), pause=1.0))

    async def main() -> tuple[float, int]:
        async with client_on(wire, timeout=2.0) as client:
            start = anyio.current_time()
            with pytest.raises(TransportError) as info:
                await client.smarther.get_status(PLANT, MODULE)
            assert client.stats.retries == {"ReadTimeout": 3}
            return anyio.current_time() - start, info.value.attempts

    elapsed, attempts = run_virtual(main)
    assert attempts == 4
    assert elapsed == pytest.approx(4 * (2.0 + SLACK) + 0.5 + 1.0 + 2.0, abs=0.01)  # + backoff
    assert all(body.closed for body in wire.bodies)


def test_slow_headers_count_against_the_same_deadline_and_a_post_is_not_resent() -> None:
    wire = Wire(answer(201, [SUBSCRIBE_ANSWER], delay=3600.0))  # headers after an hour

    async def main() -> float:
        async with client_on(wire, timeout=3.0) as client:
            start = anyio.current_time()
            with pytest.raises(TransportError) as info:
                await client.smarther.subscribe(PLANT, HOOK)
            assert info.value.attempts == 1  # the backend may have acted: not sent again
            return anyio.current_time() - start

    assert run_virtual(main) == pytest.approx(3.0 + SLACK, abs=0.01)
    assert len(wire.requests) == 1


def test_headers_then_a_slow_body_share_one_deadline() -> None:
    # 2 s for the headers, then 2 s per byte of a 2-byte body: each step is well under the
    # 5 s timeout, the whole is not.
    wire = Wire(answer(chunks=[b"{", b"}"], delay=2.0, pause=2.0))

    async def main() -> float:
        async with client_on(wire, timeout=5.0, retry=RetryPolicy(max_attempts=1)) as client:
            start = anyio.current_time()
            with pytest.raises(TransportError):
                await client.smarther.get_status(PLANT, MODULE)
            return anyio.current_time() - start

    assert run_virtual(main) == pytest.approx(5.0 + SLACK, abs=0.01)


def test_an_answer_within_the_timeout_is_not_affected() -> None:
    wire = Wire(answer(chunks=[STATUS_BYTES[:100], STATUS_BYTES[100:]], delay=1.0, pause=1.0))

    async def main() -> str:
        async with client_on(wire, timeout=5.0) as client:
            status = await client.smarther.get_status(PLANT, MODULE)
            return status.module_id

    assert run_virtual(main) == MODULE


@pytest.mark.parametrize(
    ("timeout", "bound"),
    [
        (httpx.Timeout(connect=1.0, read=3.0, write=1.0, pool=1.0), 3.0),
        (httpx.Timeout(4.0), 4.0),
        (None, None),
        (httpx.Timeout(5.0, read=None), None),
    ],
)
def test_the_bound_is_the_longest_httpx_timeout_and_none_lifts_it(
    timeout: httpx.Timeout | None, bound: float | None
) -> None:
    wire = Wire(answer(chunks=trickle(b'{"plants": []}'), pause=1.0))  # 14 s

    async def main() -> float:
        async with client_on(wire, timeout=timeout, retry=RetryPolicy(max_attempts=1)) as client:
            start = anyio.current_time()
            with contextlib.suppress(TransportError):
                await client.smarther.list_plants()
            return anyio.current_time() - start

    assert run_virtual(main) == pytest.approx(14.0 if bound is None else bound + SLACK, abs=0.01)


@pytest.mark.asyncio
async def test_a_real_trickling_server_is_cut_at_the_timeout() -> None:
    """Over a loopback socket: headers at once, then one body byte every 50 ms."""
    body = STATUS_BYTES
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await stream.receive()
                await stream.send(head)
                for i in range(len(body)):
                    await anyio.sleep(0.05)
                    await stream.send(body[i : i + 1])
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        async with LegrandClient(
            KEY,
            access_token=TOKEN,
            base_url=f"http://127.0.0.1:{port}",
            timeout=0.3,
            rate_limit=None,
            retry=RetryPolicy(max_attempts=1),
        ) as client:
            start = time.monotonic()
            with pytest.raises(TransportError):
                await client.smarther.get_status(PLANT, MODULE)
            elapsed = time.monotonic() - start
        group.cancel_scope.cancel()
    await listener.aclose()
    assert 0.25 < elapsed < 0.3 + 0.5


# --- the size cap ----------------------------------------------------------------------------


def gzip_bomb(decoded_mib: int) -> bytes:
    """``decoded_mib`` MiB of zeros as one gzip member (level 1: fast to make)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([*(compressor.compress(zeros) for _ in range(decoded_mib)), compressor.flush()])


def members_bomb() -> bytes:
    """1 GiB of zeros in about 1 MB: 1,024 gzip members of 1 MiB each."""
    return gzip.compress(bytes(1 << 20), 9) * 1024


def deflate_bomb(decoded_mib: int, *, raw: bool = False) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15 if raw else 15)
    zeros = bytes(1 << 20)
    return b"".join([*(compressor.compress(zeros) for _ in range(decoded_mib)), compressor.flush()])


def chunked(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("gzip", lambda: gzip_bomb(64)),
        ("gzip", members_bomb),
        ("deflate", lambda: deflate_bomb(64)),
        ("deflate", lambda: deflate_bomb(64, raw=True)),
    ],
    ids=["gzip", "gzip-1GiB-members", "deflate", "raw-deflate"],
)
async def test_a_compression_bomb_never_inflates_past_the_cap(
    clock: FakeClock, encoding: str, make: Callable[[], bytes]
) -> None:
    wire = Wire(answer(chunks=chunked(make()), headers={"Content-Encoding": encoding}))
    tracemalloc.start()
    try:
        async with make_client(clock, transport=wire) as client:
            with pytest.raises(ResponseTooLarge) as info:
                await client.smarther.get_status(PLANT, MODULE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * DEFAULT_MAX_BODY_SIZE  # the whole would be 64 MiB or 1 GiB
    assert info.value.status_code == 200
    assert str(DEFAULT_MAX_BODY_SIZE) in str(info.value)
    assert isinstance(info.value, ResponseValidationError)
    assert len(wire.requests) == 1  # a body too large is not asked for again
    assert wire.bodies[0].closed


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 404, 429, 500, 503])
async def test_a_plain_body_over_the_cap_on_any_status(clock: FakeClock, status: int) -> None:
    wire = Wire(answer(status, [b"x" * 600, b"x" * 600]))
    async with make_client(clock, transport=wire, max_body_size=1000) as client:
        with pytest.raises(ResponseTooLarge) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.status_code == status
    assert len(wire.requests) == 1
    assert wire.bodies[0].closed


@pytest.mark.asyncio
async def test_the_cap_is_configurable_and_a_body_at_the_cap_is_read(clock: FakeClock) -> None:
    size = len(STATUS_BYTES)
    wire = Wire(answer(chunks=[gzip.compress(STATUS_BYTES)], headers={"Content-Encoding": "gzip"}))
    async with make_client(clock, transport=wire, max_body_size=size) as client:
        status = await client.smarther.get_status(PLANT, MODULE)
    assert status.module_id == MODULE
    async with make_client(clock, transport=wire, max_body_size=size - 1) as client:
        with pytest.raises(ResponseTooLarge):
            await client.smarther.get_status(PLANT, MODULE)
    big = b'{"plants": [' + b" " * (6 << 20) + b"]}"  # 6 MiB: over the default
    wire = Wire(answer(chunks=chunked(big)))
    async with make_client(clock, transport=wire, max_body_size=8 << 20) as client:
        assert await client.smarther.list_plants() == []


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_max_body_size_is_checked(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_body_size"):
        LegrandClient(KEY, max_body_size=value)  # type: ignore[arg-type]


# --- what the body says it is ----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(STATUS_BYTES)),
        ("x-gzip", gzip.compress(STATUS_BYTES)),
        ("GZIP", gzip.compress(STATUS_BYTES[:500]) + gzip.compress(STATUS_BYTES[500:])),
        ("deflate", zlib.compress(STATUS_BYTES)),
        ("deflate", zlib.compress(STATUS_BYTES)[2:-4]),  # raw deflate, as some servers send
        ("identity", STATUS_BYTES),
        ("gzip, identity", gzip.compress(STATUS_BYTES)),
        ("deflate, gzip", gzip.compress(zlib.compress(STATUS_BYTES))),
    ],
)
async def test_encodings_are_decoded(clock: FakeClock, encoding: str, body: bytes) -> None:
    wire = Wire(answer(chunks=chunked(body, 7), headers={"Content-Encoding": encoding}))
    async with make_client(clock, transport=wire) as client:
        status = await client.smarther.get_status(PLANT, MODULE)
    assert status.module_id == MODULE
    assert wire.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", STATUS_BYTES),  # says gzip, is plain JSON
        ("deflate", b"\xff" * 40),
        ("gzip", gzip.compress(STATUS_BYTES)[:-12]),  # cut short
        ("br", STATUS_BYTES),  # not asked for, not decoded
        ("gzip, gzip, gzip, gzip, gzip", STATUS_BYTES),
    ],
)
async def test_a_content_encoding_that_lies(clock: FakeClock, encoding: str, body: bytes) -> None:
    wire = Wire(answer(chunks=[body], headers={"Content-Encoding": encoding}))
    async with make_client(clock, transport=wire) as client:
        with pytest.raises(ResponseValidationError, match="could not be decoded"):
            await client.smarther.get_status(PLANT, MODULE)
        assert client.stats.retries == {"undecodable": 3}  # idempotent: retried like a drop
    wire = Wire(answer(404, [body], headers={"Content-Encoding": encoding}))
    async with make_client(clock, transport=wire) as client:
        with pytest.raises(NotFound):
            await client.smarther.get_status(PLANT, MODULE)


@pytest.mark.asyncio
async def test_a_users_http_client_is_bounded_too(clock: FakeClock) -> None:
    wire = Wire(answer(chunks=chunked(gzip_bomb(16)), headers={"Content-Encoding": "gzip"}))
    async with (
        httpx.AsyncClient(transport=wire) as http,
        make_client(clock, transport=None, http_client=http) as client,
    ):
        with pytest.raises(ResponseTooLarge):
            await client.smarther.get_status(PLANT, MODULE)
    assert wire.requests[0].headers["Accept-Encoding"] == "gzip, deflate"
    assert wire.bodies[0].closed


# --- token requests go through the same stack ------------------------------------------------


def test_a_trickling_token_endpoint_ends_at_the_timeout() -> None:
    wire = Wire(answer(chunks=trickle(b'{"access_token": "a", "expires_in": 3600}'), pause=1.0))

    async def main() -> float:
        app = OAuthApp("id", "secret", "https://example.org/cb", transport=wire, timeout=4.0)
        start = anyio.current_time()
        with pytest.raises(TransportError):
            await app.refresh("refresh-token")
        return anyio.current_time() - start

    assert run_virtual(main) == pytest.approx(4.0 + SLACK, abs=0.01)
    assert wire.bodies[0].closed


@pytest.mark.asyncio
async def test_a_token_bomb_is_refused(clock: FakeClock) -> None:
    wire = Wire(answer(chunks=chunked(gzip_bomb(64)), headers={"Content-Encoding": "gzip"}))
    app = OAuthApp("id", "secret", "https://example.org/cb", transport=wire, clock=clock)
    with pytest.raises(ResponseValidationError):
        await app.refresh("refresh-token")
    assert wire.bodies[0].closed


# --- cancelling closes the response ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "limited"), [(503, False), (429, True), (403, True), (200, False)]
)
def test_cancelling_while_an_error_body_is_read_closes_it(status: int, limited: bool) -> None:
    # The body starts, then hangs: the caller gives up after 1 s (timeout 20 s).
    wire = Wire(answer(status, [b'{"statusCode": 5'], hang=True))

    async def main() -> None:
        kwargs: dict[str, Any] = {"rate_limit": RateLimit(per_day=None)} if limited else {}
        async with client_on(wire, **kwargs) as client:
            with anyio.move_on_after(1.0) as scope:
                await client.smarther.get_status(PLANT, MODULE)
            assert scope.cancelled_caught

    run_virtual(main)
    assert len(wire.bodies) == 1
    assert wire.bodies[0].closed
    assert wire.responses[0].is_closed


def test_cancelling_during_a_retry_wait_leaves_nothing_open() -> None:
    wire = Wire(answer(503, [b'{"statusCode": 503, "message": "down"}']))

    async def main() -> None:
        async with client_on(wire, retry=RetryPolicy(initial_delay=10, jitter=0)) as client:
            with anyio.move_on_after(15.0):  # during the second wait (10 s, then 20 s)
                await client.smarther.get_status(PLANT, MODULE)

    run_virtual(main)
    assert len(wire.bodies) == 2
    assert all(body.closed for body in wire.bodies)
    assert all(response.is_closed for response in wire.responses)


@pytest.mark.asyncio
async def test_responses_are_read_once_and_closed_before_the_caller_sees_them(
    clock: FakeClock, mock: respx.MockRouter
) -> None:
    wire = Wire(answer(500, [b'{"statusCode": 500, "message": "down"}']))
    async with make_client(clock, transport=wire, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(ServerError) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.message == "down"
    assert [body.closed for body in wire.bodies] == [True, True]
    assert [response.is_closed for response in wire.responses] == [True, True]


@pytest.mark.asyncio
async def test_rate_limited_body_is_mapped_from_the_classification(clock: FakeClock) -> None:
    wire = Wire(answer(429, [b'{"message": "Rate limit is exceeded. Try again in 500 seconds."}']))
    async with make_client(clock, transport=wire) as client:
        with pytest.raises(RateLimited) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after == 500.0
    assert len(wire.requests) == 1


# --- the simulator's slow and bombing answers, end to end ------------------------------------


@pytest.mark.asyncio
async def test_the_simulators_trickle_over_a_real_socket_is_cut_at_the_timeout() -> None:
    from legrand_async.simulator import Simulator

    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0)  # the system clock
    sim.faults.per_route["list_plants"] = 1.0
    sim.faults.kinds = ("trickle",)
    sim.faults.trickle = 0.05
    async with sim.serve() as base_url:
        client = sim.client(
            base_url=base_url,
            transport=httpx.AsyncHTTPTransport(),
            timeout=0.3,
            retry=RetryPolicy(max_attempts=1),
        )
        async with client:
            start = time.monotonic()
            with pytest.raises(TransportError):
                await client.smarther.list_plants()
            elapsed = time.monotonic() - start
    assert 0.25 < elapsed < 0.8
    assert sim.faults.injected == {"trickle": 1}


@pytest.mark.asyncio
async def test_the_simulators_trickle_in_process_takes_simulated_time() -> None:
    from legrand_async.simulator import Simulator
    from legrand_async.testing import FakeClock as SimClock

    clock = SimClock()
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0, clock=clock)
    sim.faults.per_route["list_plants"] = 1.0
    sim.faults.kinds = ("trickle",)
    async with sim.client() as client:
        plants = await client.smarther.list_plants()
    assert len(plants) == 1
    assert clock.monotonic() > 50  # a second per byte of the answer, on the simulated clock


@pytest.mark.asyncio
async def test_the_simulators_bomb_is_response_too_large() -> None:
    from legrand_async.simulator import Simulator
    from legrand_async.testing import FakeClock as SimClock

    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0, clock=SimClock())
    sim.faults.per_route["get_topology"] = 1.0
    sim.faults.kinds = ("bomb",)
    async with sim.client() as client:
        with pytest.raises(ResponseTooLarge):
            await client.smarther.get_topology(sim.plants[0])
    assert sim.faults.injected == {"bomb": 1}


class SlowClose(Body):
    """A body whose close takes a few loop turns (a pooled connection being released)."""

    async def aclose(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        self.closed = True


@pytest.mark.asyncio
async def test_asyncio_cancelling_again_while_the_response_closes_still_closes_it() -> None:
    # task.cancel() is what asyncio.run (Ctrl-C) and asyncio.timeout do: an anyio shield does
    # not keep the second one out of a close that awaits.
    bodies: list[SlowClose] = []
    body_started = asyncio.Event()

    async def respond(request: httpx.Request) -> httpx.Response:
        body = SlowClose([b'{"statusCode": 5'], hang=True)
        bodies.append(body)
        body_started.set()
        return httpx.Response(503, stream=body, request=request)

    async with client_on(Wire(respond)) as client:
        task = asyncio.create_task(client.smarther.get_status(PLANT, MODULE))
        await body_started.wait()
        await asyncio.sleep(0)
        task.cancel()  # while the body is read
        await asyncio.sleep(0)
        task.cancel()  # while it is being closed
        with pytest.raises(asyncio.CancelledError):
            await task
    assert bodies[0].closed
