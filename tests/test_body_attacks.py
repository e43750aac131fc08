"""Bodies a server should not send, one by one: what each becomes, and what it costs.

``test_body_matrix`` walks every route x status x hostile body for "a documented error, never
anything else"; here each attack's exact outcome is pinned: strict JSON (no NaN, no endless
integers whatever ``sys.set_int_max_str_digits`` says, UTF-8 or a BOM'd UTF-16/32), retried or
not, error bodies kept as text when they are too long or deep to parse, bodies exactly at the
cap and one byte over for every encoding and status, encodings we do not decode, and memory
(tracemalloc) for bombs in success and error answers.
"""

from __future__ import annotations

import gzip
import json
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from legrand_async import (
    BadRequest,
    DeviceBusy,
    LegrandClient,
    NotFound,
    ResponseTooLarge,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    SetStatus,
)

from .conftest import KEY, MODULE, PLANT, STATUS_BYTES, TOKEN, FakeClock


class Wire(httpx.AsyncBaseTransport):
    """Answers each request with the next of ``answers`` (the last one again when they run out)."""

    def __init__(self, *answers: tuple[int, bytes, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, body, headers = self.answers[min(self.sent, len(self.answers) - 1)]
        self.sent += 1
        chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
        return httpx.Response(status, headers=headers, stream=Chunks(chunks))


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk


def client_of(wire: Wire, **kwargs: Any) -> LegrandClient:
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0, max_delay=0))
    return LegrandClient(
        KEY, access_token=TOKEN, transport=wire, rate_limit=None, clock=FakeClock(), **kwargs
    )


async def get_status(wire: Wire, **kwargs: Any) -> Any:
    async with client_of(wire, **kwargs) as client:
        return await client.smarther.get_status(PLANT, MODULE)


# --- strict JSON -------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        STATUS_BYTES.replace(b'"19.5"', b"NaN"),
        STATUS_BYTES.replace(b'"19.5"', b"Infinity"),
        STATUS_BYTES.replace(b'"19.5"', b"-Infinity"),
        STATUS_BYTES.replace(b"1ee68d6f-46b7", b"1ee68d6f-\xed\xa0\x80"),  # a surrogate in bytes
        STATUS_BYTES.replace(b"HEATING", b"HEAT\xffING"),
        STATUS_BYTES.replace(b'"number":1', b'"number":' + b"1" * 5000),
        STATUS_BYTES[:-1],
        STATUS_BYTES + b"}",
        b"\x00" * 16,
    ],
    ids=["NaN", "Infinity", "-Infinity", "surrogate", "invalid utf-8", "huge int", "cut", "extra",
         "nul bytes"],
)
async def test_a_2xx_that_is_not_strict_json_is_retried_then_not_json(body: bytes) -> None:
    wire = Wire((200, body, {}))
    with pytest.raises(ResponseValidationError, match="not JSON"):
        await get_status(wire)
    assert wire.sent == 4  # idempotent: retried like a dropped connection, up to max_attempts


@pytest.mark.asyncio
async def test_not_strict_json_on_a_post_is_not_sent_again() -> None:
    wire = Wire((201, b'{"subscriptionId": NaN}', {}))
    async with client_of(wire) as client:
        with pytest.raises(ResponseValidationError, match="not JSON"):
            await client.smarther.subscribe(PLANT, "https://example.org/hook")
    assert wire.sent == 1


@pytest.mark.asyncio
async def test_huge_integers_are_refused_even_without_the_interpreters_limit() -> None:
    # An application may lift the limit (sys.set_int_max_str_digits(0)); int() on 200,000
    # digits then takes seconds of CPU, so the parser keeps its own bound.
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        wire = Wire((200, STATUS_BYTES.replace(b'"number":1', b'"number":' + b"7" * 200_000), {}))
        with pytest.raises(ResponseValidationError, match="not JSON"):
            await get_status(wire, retry=RetryPolicy(max_attempts=1))
        wire = Wire((400, b'{"statusCode": ' + b"4" * 200_000 + b', "message": "m"}', {}))
        with pytest.raises(BadRequest) as info:
            await get_status(wire)
        assert isinstance(info.value.body, str)  # kept as text
    finally:
        sys.set_int_max_str_digits(previous)


@pytest.mark.asyncio
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
async def test_json_in_utf_16_or_32_or_with_a_bom_is_read(codec: str) -> None:
    body = STATUS_BYTES.decode().encode(codec)
    status = await get_status(Wire((200, body, {})))
    assert status.module_id == MODULE


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "match"),
    [
        (STATUS_BYTES.replace(b'"19.5"', b"1e400"), "temperature|value"),  # JSON, but infinite
        (json.dumps(STATUS_BYTES.decode()).encode(), r"\$"),  # a JSON string of the JSON
        (b'{"chronothermostats": [], "chronothermostats": 5}', r"\$"),  # the last key wins
    ],
    ids=["1e400", "json string of json", "duplicate keys"],
)
async def test_valid_json_of_the_wrong_shape_is_a_validation_error_at_once(
    body: bytes, match: str
) -> None:
    wire = Wire((200, body, {}))
    with pytest.raises(ResponseValidationError, match=match) as info:
        await get_status(wire)
    assert wire.sent == 1
    assert len(str(info.value)) < 2000
    assert len(info.value.errors) <= 11


@pytest.mark.asyncio
async def test_a_list_of_200000_bad_items_names_the_first_few_quickly() -> None:
    wire = Wire((200, b'{"plants": [' + b"{}," * 200_000 + b"{}]}", {}))
    async with client_of(wire) as client:
        with pytest.raises(ResponseValidationError, match="and more") as info:
            await client.smarther.list_plants()
    assert len(info.value.errors) == 11
    assert info.value.errors[0].endswith("@ $[0].id")
    assert len(str(info.value)) < 2000
    assert wire.sent == 1


# --- error bodies ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_long_error_body_is_kept_as_text_not_parsed() -> None:
    body = b'{"statusCode": 404, "message": "gone", "pad": [' + b"{}," * 200_000 + b"{}]}"
    tracemalloc.start()
    try:
        with pytest.raises(NotFound) as info:
            await get_status(Wire((404, body, {})))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * len(body)  # parsing 200,000 dicts would take about 25 times the body
    assert isinstance(info.value.body, str)
    assert info.value.message.startswith('{"statusCode": 404')


@pytest.mark.asyncio
async def test_an_error_body_nested_100000_deep_in_errors_is_kept_as_text() -> None:
    body = b'{"errors": [{"userMessage": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    with pytest.raises(DeviceBusy) as info:
        await get_status(Wire((486, body, {})), retry=RetryPolicy(max_attempts=1))
    assert isinstance(info.value.body, str)
    assert len(info.value.message) <= 500


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 404, 486, 500, 503])
async def test_an_error_body_bomb_is_response_too_large_with_its_status(status: int) -> None:
    bomb = gzip.compress(bytes(64 << 20), 1)
    wire = Wire((status, bomb, {"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as info:
            await get_status(wire, max_body_size=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.status_code == status
    assert wire.sent == 1  # a body over the cap is never asked for again, whatever the status
    assert peak < 3 * (1 << 20) + 2 * len(bomb)


class Crumbs(httpx.AsyncByteStream):
    """An endless body in two-byte chunks, each a bytes object of its own (as off a socket)."""

    async def __aiter__(self) -> Any:
        while True:
            yield bytes(2)


class Crumbling(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Crumbs())


@pytest.mark.asyncio
async def test_a_body_in_tiny_chunks_stays_within_a_few_times_the_cap() -> None:
    cap = 1 << 20
    tracemalloc.start()
    try:
        async with LegrandClient(
            KEY, access_token=TOKEN, transport=Crumbling(), rate_limit=None, clock=FakeClock(),
            max_body_size=cap,
        ) as client:
            with pytest.raises(ResponseTooLarge):
                await client.smarther.get_status(PLANT, MODULE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * cap  # 500,000 chunks kept as a list of them took about 20 times the cap


# --- the cap, to the byte ------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A JSON document of exactly ``size`` bytes that fits the status model."""
    document = json.loads(STATUS_BYTES)
    base = json.dumps(document, separators=(",", ":")).encode()
    pad = size - len(base) - len(',"pad":""')
    assert pad >= 0
    document["pad"] = "x" * pad
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) == size
    return body


ENCODERS: dict[str, tuple[str | None, Callable[[bytes], bytes]]] = {
    "identity": (None, lambda b: b),
    "gzip": ("gzip", gzip.compress),
    "deflate": ("deflate", zlib.compress),
    "raw deflate": ("deflate", lambda b: zlib.compress(b)[2:-4]),
    "gzip, gzip": ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("encoding", ENCODERS.values(), ids=ENCODERS.keys())
async def test_a_body_exactly_at_the_cap_is_read_and_one_byte_more_is_not(
    encoding: tuple[str | None, Callable[[bytes], bytes]],
) -> None:
    name, encode = encoding
    cap = 64 * 1024
    headers = {"Content-Encoding": name} if name else {}
    status = await get_status(Wire((200, encode(padded(cap)), headers)), max_body_size=cap)
    assert status.module_id == MODULE
    wire = Wire((200, encode(padded(cap + 1)), headers))
    with pytest.raises(ResponseTooLarge):
        await get_status(wire, max_body_size=cap)
    assert wire.sent == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 500])
async def test_an_error_body_at_the_cap_is_mapped_and_one_byte_more_is_too_large(
    status: int,
) -> None:
    cap = 4096
    body = b'{"message": "m", "pad": "' + b"x" * (cap - 27) + b'"}'
    assert len(body) == cap
    policy = RetryPolicy(max_attempts=1)
    with pytest.raises((BadRequest, ServerError)) as info:
        await get_status(Wire((status, body, {})), max_body_size=cap, retry=policy)
    assert info.value.message == "m"
    with pytest.raises(ResponseTooLarge) as too_large:
        await get_status(Wire((status, body + b" ", {})), max_body_size=cap, retry=policy)
    assert too_large.value.status_code == status


# --- encodings we do not decode ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "encoding",
    ["br", "zstd", "compress", "gzip, br", "x-unknown", "gzip;q=1", "gzip, " * 4 + "gzip"],
)
async def test_an_encoding_we_did_not_ask_for_is_undecodable(encoding: str) -> None:
    wire = Wire((200, gzip.compress(STATUS_BYTES), {"Content-Encoding": encoding}))
    with pytest.raises(ResponseValidationError, match="could not be decoded"):
        await get_status(wire)
    assert wire.sent == 4  # idempotent: retried like a broken answer
    async with client_of(Wire((201, b"{}", {"Content-Encoding": encoding}))) as client:
        with pytest.raises(ResponseValidationError, match="could not be decoded"):
            await client.smarther.subscribe(PLANT, "https://example.org/hook")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("", STATUS_BYTES),
        ("identity", STATUS_BYTES),
        (" GZip ", gzip.compress(STATUS_BYTES)),
        ("identity, gzip", gzip.compress(STATUS_BYTES)),
        ("gzip, gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(gzip.compress(
            STATUS_BYTES))))),
        ("gzip", gzip.compress(STATUS_BYTES) + b"\0" * 100),  # zero padding after the member
    ],
)
async def test_encodings_we_decode(encoding: str, body: bytes) -> None:
    status = await get_status(Wire((200, body, {"Content-Encoding": encoding})))
    assert status.module_id == MODULE


@pytest.mark.asyncio
async def test_garbage_after_a_gzip_member_is_undecodable() -> None:
    body = gzip.compress(STATUS_BYTES) + b"garbage"
    with pytest.raises(ResponseValidationError, match="could not be decoded"):
        await get_status(Wire((200, body, {"Content-Encoding": "gzip"})))


@pytest.mark.asyncio
async def test_a_route_without_a_result_ignores_a_body_it_cannot_decode() -> None:
    wire = Wire((200, b"\xff" * 64, {"Content-Encoding": "gzip"}))
    async with client_of(wire) as client:
        assert await client.smarther.set_status(PLANT, MODULE, SetStatus.off()) is None
    assert wire.sent == 1
