"""Walk the route table x hostile bodies x statuses: every call ends in a result or a LegrandError.

Each route is called through its generated coroutine (the recipes of ``test_route_table``)
against a wire that answers every attempt with the same status and body. Whatever the body
(not JSON, the wrong JSON type, invalid UTF-8, a Content-Encoding that lies, nesting 100,000
deep, deeply nested error bodies, cut short), the call must end in a documented
``LegrandError`` (or, for a 2xx that happens to fit, a result), never in anything else, and
never with a secret in the error's text.
"""

from __future__ import annotations

import gzip
import json
import random

import httpx
import pytest

from legrand_async import LegrandClient, RetryPolicy
from legrand_async._routes import ROUTES
from legrand_async._routing import Route
from legrand_async.errors import APIError, LegrandError, ResponseValidationError

from .conftest import KEY, TOKEN, FakeClock, wire
from .test_route_table import RECIPES

DEEP = 100_000
BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "empty": (b"", {}),
    "not json": (b"<html><body>Bad gateway</body></html>", {}),
    "json list": (b"[]", {}),
    "json list of lists": (b"[[1], [2]]", {}),
    "json string": (b'"text"', {}),
    "json number": (b"42", {}),
    "json null": (b"null", {}),
    "json true": (b"true", {}),
    "object of the wrong shape": (b'{"plants": 7, "errors": "x", "message": {"a": [1]}}', {}),
    "invalid utf-8": (b"\xff\xfe\xfd\x80", {}),
    "invalid utf-8 in json": (b'{"message": "\xff\xfe", "statusCode": 400}', {}),
    "gzip that is not": (b'{"statusCode": 500, "message": "x"}', {"Content-Encoding": "gzip"}),
    "unknown encoding": (b"{}", {"Content-Encoding": "compress"}),
    "nested lists 100,000 deep": (b"[" * DEEP + b"]" * DEEP, {}),
    "nested objects 100,000 deep": (b'{"a":' * DEEP + b"1" + b"}" * DEEP, {}),
    "error message nested 900 deep": (
        b'{"statusCode": 400, "message": ' + b"[" * 900 + b"]" * 900 + b"}",
        {},
    ),
    "errors[] nested 900 deep": (
        b'{"errors": [{"userMessage": ' + b'{"a":' * 900 + b"1" + b"}" * 900 + b"}]}",
        {},
    ),
    "cut short": (b'{"chronothermostats": [{"function": "HEAT', {}),
    "secret echoed deep": (
        b'{"message": "bad ' + KEY.encode() + b'", "x": ' + b"[" * 60 + b'"' + TOKEN.encode()
        + b'"' + b"]" * 60 + b"}",
        {},
    ),
    "gzip of nested lists": (
        gzip.compress(b"[" * DEEP + b"]" * DEEP),
        {"Content-Encoding": "gzip"},
    ),
    "NaN": (b'{"plants": [NaN], "chronothermostats": [NaN], "statusCode": NaN, "message": 1}', {}),
    "Infinity": (b"[Infinity, -Infinity]", {}),
    "1e400": (b'{"plants": 1e400, "statusCode": 1e400, "message": 1e400}', {}),
    "a 5,000-digit integer": (b'{"statusCode": ' + b"9" * 5000 + b', "plants": []}', {}),
    "utf-16 with a BOM": ('{"message": "x", "plants": [{}]}'.encode("utf-16"), {}),
    "utf-8 BOM": (b'\xef\xbb\xbf{"plants": "x", "message": "y"}', {}),
    "surrogate in utf-8 bytes": (b'{"message": "\xed\xa0\x80", "plants": []}', {}),
    "lone surrogate escapes": (b'{"message": "\\ud800", "plants": [{"id": "\\udfff"}]}', {}),
    "duplicate keys": (b'{"plants": [], "plants": 7, "message": "a", "message": "b"}', {}),
    "a JSON string of JSON": (json.dumps(json.dumps({"plants": [], "message": "x"})).encode(), {}),
    "terminal escapes": (b'{"message": "\\u001b[2J\\u001b]0;x\\u0007\\r", "code": "\\u001b"}', {}),
    "2,000 objects": (b"[" + b"{}," * 2_000 + b"{}]", {}),
    "errors[] nested 100,000 deep": (
        b'{"errors": [{"userMessage": ' + b"[" * DEEP + b"]" * DEEP + b"}]}",
        {},
    ),
}
STATUSES = (200, 201, 204, 400, 401, 403, 404, 406, 408, 409, 429, 430, 469, 486, 500, 503)


class Fixed(httpx.AsyncBaseTransport):
    """Answers every request with one status, body and headers."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes, dict[str, str]] = (200, b"", {})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, body, headers = self.answer
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


@pytest.mark.asyncio
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.family}.{r.name}")
async def test_every_body_on_every_status_ends_in_a_documented_error(route: Route) -> None:
    recipe = RECIPES[route.family, route.name]
    fixed = Fixed()
    outcomes: dict[str, str] = {}
    async with LegrandClient(
        KEY,
        access_token=TOKEN,
        transport=fixed,
        rate_limit=None,
        retry=RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0),
        clock=FakeClock(),
        rng=random.Random(0),
    ) as client:
        api = getattr(client, route.family)
        for name, (body, headers) in BODIES.items():
            for status in STATUSES:
                fixed.answer = (status, body, headers)
                where = f"{name} / {status}"
                try:
                    result: object = await recipe.call(api)
                except LegrandError as exc:
                    result = exc
                except Exception as exc:  # pragma: no cover - the failure this test is for
                    pytest.fail(f"{where}: {type(exc).__name__}: {exc}"[:300])
                outcomes[where] = check(result, status, where)
    # the 2xx answers that are not JSON were retried (idempotent routes) or not (the others)
    assert outcomes["not json / 404"] == "NotFound"
    assert outcomes["nested lists 100,000 deep / 500"] == "ServerError"


def check(result: object, status: int, where: str) -> str:
    """The outcome's name, once it is checked: a documented error, or a result for a 2xx."""
    if not isinstance(result, LegrandError):
        assert status < 300, where
        return "result"
    text = str(result)
    assert KEY not in text, where
    assert TOKEN not in text, where
    assert len(text) < 1000, where
    assert "\x1b" not in text, where  # server text cannot drive a terminal
    text.encode("utf-8")  # nor break a UTF-8 log (no lone surrogate)
    if isinstance(result, APIError):
        assert result.status_code == status, where
        assert KEY not in repr(result.body), where  # kept bodies are shallow: repr works
        assert TOKEN not in repr(result.body), where
    if status < 300:
        assert isinstance(result, ResponseValidationError), where
    return type(result).__name__


@pytest.mark.asyncio
async def test_the_wire_helper_is_real() -> None:
    # The matrix above uses an in-memory transport; one pass over a real httpx transport (respx
    # intercepts it) checks nothing differs when the bytes come through httpcore.
    import respx

    body, _ = BODIES["nested lists 100,000 deep"]
    with respx.mock(base_url="https://api.developer.legrand.com") as mock:
        mock.get(path__regex=".*").respond(200, content=body)
        async with LegrandClient(
            KEY, access_token=TOKEN, transport=wire(), rate_limit=None, clock=FakeClock()
        ) as client:
            with pytest.raises(ResponseValidationError):
                await client.smarther.list_plants()
