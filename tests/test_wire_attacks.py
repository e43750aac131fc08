"""Hostile servers on a real loopback socket, in virtual time: trickles, silences, lies, floods.

Every server here is a raw HTTP/1.1 script (:mod:`tests.wire_server`) under trio's MockClock, so
the bytes go through httpcore and h11 as in production while an hour of trickling takes
milliseconds. Each attack ends in a documented error within the timeout plus
:data:`~legrand_async._transport.bounded.SLACK`, is retried like a read timeout on idempotent
routes only, and leaves no connection open (the server sees the client close every socket).
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from legrand_async import (
    LegrandClient,
    LegrandError,
    RateLimit,
    ResponseTooLarge,
    RetryPolicy,
    ServerError,
    TransportError,
)
from legrand_async._transport.bounded import SLACK

from .conftest import HOOK, MODULE, PLANT, STATUS_BYTES
from .wire_server import Connection, WireServer, chunk, client_at, head, run_virtual, serve

TIMEOUT = 5.0
BACKOFF = 0.5 + 1.0 + 2.0  # the default policy's three waits, without jitter

Call = Callable[[LegrandClient], Awaitable[Any]]


def get_status(client: LegrandClient) -> Awaitable[Any]:
    return client.smarther.get_status(PLANT, MODULE)


def subscribe(client: LegrandClient) -> Awaitable[Any]:
    return client.smarther.subscribe(PLANT, HOOK)


def attack(script: Any, call: Call, **kwargs: Any) -> tuple[Any, BaseException | Any, float, Any]:
    """``call`` against ``script``: (server, the outcome, virtual seconds taken, client stats)."""

    async def main(base_url: str) -> tuple[Any, float, Any]:
        kwargs.setdefault("timeout", TIMEOUT)
        async with client_at(base_url, **kwargs) as client:
            start = anyio.current_time()
            try:
                outcome: Any = await call(client)
            except LegrandError as exc:
                outcome = exc
            return outcome, anyio.current_time() - start, client.stats

    server, (outcome, elapsed, stats) = serve(script, main)
    return server, outcome, elapsed, stats


# --- trickles and silences: one deadline per attempt ----------------------------------------


async def trickle_everything(conn: Connection) -> None:
    await conn.request()
    await conn.trickle(head(length=len(STATUS_BYTES)) + STATUS_BYTES)


async def trickle_the_body(conn: Connection) -> None:
    await conn.request()
    await conn.send(head(length=len(STATUS_BYTES)))
    await conn.trickle(STATUS_BYTES)


async def trickle_chunks(conn: Connection) -> None:
    await conn.request()
    await conn.send(head(extra="Transfer-Encoding: chunked"))
    for i in range(len(STATUS_BYTES)):
        await anyio.sleep(1)
        await conn.send(chunk(STATUS_BYTES[i : i + 1]))


async def answer_nothing(conn: Connection) -> None:
    await conn.request()  # slowloris the other way round: read the request, then silence


async def read_nothing(conn: Connection) -> None:
    """Accept the connection and never read from it."""


#: Each script, and how long an attempt against it lasts: httpx's read timeout ends a silence,
#: the whole-attempt bound (the timeout plus SLACK) a trickle.
TRICKLES = {
    "headers and body a byte a second": (trickle_everything, TIMEOUT + SLACK),
    "body a byte a second": (trickle_the_body, TIMEOUT + SLACK),
    "chunked, a one-byte chunk a second": (trickle_chunks, TIMEOUT + SLACK),
    "request read, no answer": (answer_nothing, TIMEOUT),
    "connection accepted, request never read": (read_nothing, TIMEOUT),
}


@pytest.mark.parametrize(("script", "attempt"), TRICKLES.values(), ids=TRICKLES.keys())
def test_a_trickle_ends_at_the_timeout_and_is_retried_like_a_read_timeout(
    script: Any, attempt: float
) -> None:
    server, error, elapsed, stats = attack(script, get_status)
    assert isinstance(error, TransportError)
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert error.attempts == 4
    assert stats.retries == {"ReadTimeout": 3}
    assert elapsed == pytest.approx(4 * attempt + BACKOFF, abs=0.01)
    assert server.connections == 4
    assert server.closed_by_client == 4  # every cut-off attempt closed its socket


@pytest.mark.parametrize(("script", "attempt"), TRICKLES.values(), ids=TRICKLES.keys())
def test_a_trickle_is_not_resent_on_a_route_that_is_not_idempotent(
    script: Any, attempt: float
) -> None:
    server, error, elapsed, stats = attack(script, subscribe)
    assert isinstance(error, TransportError)
    assert error.attempts == 1
    assert stats.retries == {}
    assert elapsed == pytest.approx(attempt, abs=0.01)
    assert server.connections == server.closed_by_client == 1


def test_a_keep_alive_connection_that_starts_trickling_is_dropped_and_the_call_retried() -> None:
    async def script(conn: Connection) -> None:
        await conn.request()
        await conn.send(head(length=len(STATUS_BYTES)) + STATUS_BYTES)
        if conn.server.connections == 1:  # the first connection trickles its second answer
            await trickle_the_body_after_request(conn)
        else:
            while True:
                await conn.request()
                await conn.send(head(length=len(STATUS_BYTES)) + STATUS_BYTES)

    async def trickle_the_body_after_request(conn: Connection) -> None:
        await conn.request()
        await conn.send(head(length=len(STATUS_BYTES)))
        await conn.trickle(STATUS_BYTES)

    async def main(base_url: str) -> tuple[list[float], Any]:
        times = []
        async with client_at(base_url, timeout=TIMEOUT) as client:
            for _ in range(3):
                start = anyio.current_time()
                status = await client.smarther.get_status(PLANT, MODULE)
                assert status.module_id == MODULE
                times.append(anyio.current_time() - start)
            return times, client.stats

    server, (times, stats) = serve(script, main)
    assert times == pytest.approx([0.0, TIMEOUT + SLACK + 0.5, 0.0], abs=0.01)
    assert stats.retries == {"ReadTimeout": 1}
    assert server.connections == 2
    assert server.closed_by_client >= 1


class Blackhole(httpcore.AsyncNetworkBackend):
    """A network where every connect hangs (a dropped SYN): only httpcore's own timeout ends it."""

    def __init__(self) -> None:
        self.connects = 0

    async def connect_tcp(
        self, *args: Any, timeout: float | None = None, **kwargs: Any  # noqa: ASYNC109
    ) -> Any:
        self.connects += 1
        try:
            with anyio.fail_after(timeout):
                await anyio.sleep_forever()
        except TimeoutError:
            raise httpcore.ConnectTimeout("timed out") from None


@pytest.mark.parametrize("call", [get_status, subscribe], ids=["GET", "POST"])
def test_a_connect_that_hangs_is_a_connect_timeout_retried_on_every_route(call: Call) -> None:
    network = Blackhole()
    wire = httpx.AsyncHTTPTransport()
    wire._pool = httpcore.AsyncConnectionPool(network_backend=network)

    async def main() -> tuple[BaseException, float, Any]:
        async with LegrandClient(
            "key", access_token="token", transport=wire, timeout=TIMEOUT, rate_limit=None,
            retry=RetryPolicy(jitter=0),
        ) as client:
            start = anyio.current_time()
            with pytest.raises(TransportError) as info:
                await call(client)
            return info.value, anyio.current_time() - start, client.stats

    error, elapsed, stats = run_virtual(main)
    assert isinstance(error.__cause__, httpx.ConnectTimeout)  # not cut off as a read timeout
    assert error.attempts == 4  # nothing reached the server: safe to send again, even a POST
    assert stats.errors == {"ConnectTimeout": 4}
    assert network.connects == 4
    assert elapsed == pytest.approx(4 * TIMEOUT + BACKOFF, abs=0.01)


# --- Content-Length that lies, and bodies without end ----------------------------------------


async def longer_than_sent(conn: Connection) -> None:
    await conn.request()
    await conn.send(head(length=len(STATUS_BYTES) + 100) + STATUS_BYTES)
    await conn.stream.aclose()


async def shorter_than_sent(conn: Connection) -> None:
    while True:
        await conn.request()
        await conn.send(head(length=len(STATUS_BYTES) - 10) + STATUS_BYTES)


async def huge_then_closed(conn: Connection) -> None:
    await conn.request()
    await conn.send(head(length=10**15) + STATUS_BYTES)
    await conn.stream.aclose()


async def not_a_number(conn: Connection) -> None:
    await conn.request()
    await conn.send(head(extra="Content-Length: 12abc") + STATUS_BYTES)


async def two_lengths(conn: Connection) -> None:
    await conn.request()
    await conn.send(head(length=5, extra="Content-Length: 7") + STATUS_BYTES)


LIES = {
    "longer than sent, then closed": longer_than_sent,
    "shorter than sent": shorter_than_sent,
    "10**15, then closed": huge_then_closed,
    "not a number": not_a_number,
    "two different lengths": two_lengths,
}


@pytest.mark.parametrize("script", LIES.values(), ids=LIES.keys())
@pytest.mark.parametrize("call", [get_status, subscribe], ids=["GET", "POST"])
def test_a_content_length_that_lies_ends_in_a_documented_error(script: Any, call: Call) -> None:
    server, outcome, elapsed, _ = attack(script, call)
    assert isinstance(outcome, LegrandError), outcome
    assert elapsed < 10  # none of these waits for the timeout
    if call is subscribe:
        assert len(server.requests) == 1  # a POST is never sent twice
    assert server.closed_by_client == server.connections


def endless(piece: bytes, *, chunked: bool, status: str = "200 OK", extra: str = "") -> Any:
    async def script(conn: Connection) -> None:
        await conn.request()
        if chunked:
            await conn.send(head(status, extra="Transfer-Encoding: chunked" + extra))
            while True:
                await conn.send(chunk(piece))
        else:
            await conn.send(head(status, length=10**15, extra=extra.strip("\r\n")))
            while True:
                await conn.send(piece)

    return script


MIB = 1 << 20
GZIP_MEMBER = gzip.compress(bytes(MIB), 9)  # 1 MiB of zeros in about 1 KiB
GZIP = "Content-Encoding: gzip"
NESTED = gzip.compress(gzip.compress(bytes(64 * MIB), 9), 9)  # gzip in gzip: 64 MiB inside


@pytest.mark.parametrize(
    ("script", "status"),
    [
        (endless(b"x" * 65536, chunked=True), 200),
        (endless(b"x" * 65536, chunked=False), 200),
        (endless(b"x" * 65536, chunked=True, status="500 Internal Server Error"), 500),
        (endless(GZIP_MEMBER, chunked=True, extra="\r\n" + GZIP), 200),
        (endless(GZIP_MEMBER, chunked=False, status="503 Busy", extra=GZIP), 503),
    ],
    ids=["chunked", "content-length 10**15", "chunked error body", "gzip members", "gzip error"],
)
def test_a_body_without_end_stops_at_the_cap_in_bounded_memory(script: Any, status: int) -> None:
    cap = MIB
    tracemalloc.start()
    try:
        server, error, _, stats = attack(script, get_status, max_body_size=cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, ResponseTooLarge)
    assert error.status_code == status
    assert str(cap) in str(error)
    assert stats.attempts == 1  # too large is not asked for again
    assert peak < 4 * cap
    assert server.connections == server.closed_by_client == 1


def test_gzip_in_gzip_is_decoded_once_and_capped() -> None:
    # "Content-Encoding: gzip" over a gzip of a gzip: one layer is undone, the rest is not JSON.
    async def nested(conn: Connection) -> None:
        await conn.request()
        await conn.send(head(length=len(NESTED), extra="Content-Encoding: gzip") + NESTED)

    async def doubly(conn: Connection) -> None:  # "gzip, gzip": both layers undone, capped
        await conn.request()
        await conn.send(head(length=len(NESTED), extra="Content-Encoding: gzip, gzip") + NESTED)

    _, error, _, _ = attack(nested, get_status, retry=RetryPolicy(max_attempts=1))
    assert isinstance(error, LegrandError)
    assert not isinstance(error, ResponseTooLarge)  # 64 KiB of gzip inside: under the cap
    _, error, _, _ = attack(doubly, get_status, max_body_size=MIB)
    assert isinstance(error, ResponseTooLarge)


def test_a_header_flood_is_a_transport_error() -> None:
    async def flood(conn: Connection) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\n")
        while True:
            await conn.send(b"X-Flood: " + b"a" * 1000 + b"\r\n")

    server, error, elapsed, _ = attack(flood, subscribe)
    assert isinstance(error, TransportError)
    assert error.attempts == 1
    assert elapsed < 1
    assert server.closed_by_client == 1


def test_an_error_answer_on_the_wire_is_read_whole_and_mapped() -> None:
    body = b'{"statusCode": 500, "message": "down"}'

    async def down(conn: Connection) -> None:
        while True:
            await conn.request()
            await conn.send(head("500 Internal Server Error", length=len(body)) + body)

    server, error, _, _ = attack(down, get_status)
    assert isinstance(error, ServerError)
    assert error.message == "down"
    assert error.attempts == 4
    assert server.connections == 1  # read whole, so the connection is kept for the retries


def test_deflate_and_raw_deflate_on_the_wire() -> None:
    compressed = {
        "zlib": zlib.compress(STATUS_BYTES),
        "raw": zlib.compress(STATUS_BYTES)[2:-4],
    }
    for data in compressed.values():

        async def script(conn: Connection, data: bytes = data) -> None:
            await conn.request()
            await conn.send(head(length=len(data), extra="Content-Encoding: deflate") + data)

        _, status, _, _ = attack(script, get_status)
        assert status.module_id == MODULE


def test_a_redirect_is_not_followed() -> None:
    async def moved(conn: Connection) -> None:
        while True:
            await conn.request()
            await conn.send(
                head("302 Found", length=0, extra="Location: https://evil.example/steal")
            )

    server, error, _, stats = attack(moved, get_status)
    assert isinstance(error, LegrandError)
    assert error.status_code == 302
    assert stats.attempts == 1
    assert len(server.requests) == 1  # nothing went to the Location, with or without the token


def test_a_call_cancelled_at_any_moment_on_the_wire_leaves_no_connection_open() -> None:
    """Over real sockets: a 503 whose body trickles, a backoff, then the answer; the caller
    gives up after t seconds, for t every 10 ms until the call completes. Closing the client
    then closes every connection the server saw, and the quota counts what was sent."""
    error_body = b'{"statusCode": 503, "message": "busy"}'
    failing = [True]

    async def script(conn: Connection) -> None:
        while True:
            await conn.request()
            if failing[0]:
                failing[0] = False
                await conn.send(head("503 Busy", length=len(error_body)))
                await conn.trickle(error_body, every=0.01)
            else:
                await conn.send(head(length=len(STATUS_BYTES)) + STATUS_BYTES)

    async def main(base_url: str) -> int:
        for step in range(1000):
            failing[0] = True
            before = len(server.requests)
            client = client_at(base_url, timeout=TIMEOUT, rate_limit=RateLimit(per_day=None))
            status = None
            with anyio.move_on_after(step * 0.01):
                status = await client.smarther.get_status(PLANT, MODULE)
            await client.aclose()
            quota = client.quota
            assert quota is not None
            sent = len(server.requests) - before
            assert sent <= quota.used_today <= sent + 1, step  # +1: sent, not read yet
            if status is not None:
                assert sent == 2
                return step
        raise AssertionError("the call never completed")

    server = WireServer(script)

    async def run() -> int:
        result: int = await server.run(main)
        return result

    steps = run_virtual(run)
    assert steps > 50  # cut in the 503's head, its body, the backoff, the second attempt
    assert server.closed_by_client == server.connections
