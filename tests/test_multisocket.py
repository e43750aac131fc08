"""Multisocket on the wire: sockets addressed by id, name or type; errors; argument checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
import respx

from legrand_async import LegrandClient, SocketPlug, errors
from legrand_async._converters import make_converter, structure
from legrand_async._routes import route

from .conftest import KEY, MODULE, PLANT, TOKEN, assert_headers, assert_refused_before_any_request

SOCKETS = f"/multioutlet/plug/energy/addressLocation/plants/{PLANT}/parameter"
PLUG_ID = "4f1c2a9e-7d3b-4e21-9a6c-0b8d5e3f1a27"

PLUGS = {
    "plugs": [
        {"id": PLUG_ID, "name": "Lamp", "status": [True]},
        {"id": "second-socket", "name": "Lamp", "status": [False, True]},
        {"id": "third-socket", "name": "Lamp", "status": [False, False]},
    ]
}

Call = Callable[[LegrandClient], Coroutine[Any, Any, object]]


# --- get_plugs ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_get_plugs_by_name(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{SOCKETS}/name/value/Lamp").respond(json=PLUGS)
    plugs = await client.multisocket.get_plugs(PLANT, by="name", value="Lamp")
    assert all(isinstance(p, SocketPlug) for p in plugs)
    assert [(p.id, p.name, p.status, p.is_on) for p in plugs] == [
        (PLUG_ID, "Lamp", [True], True),
        ("second-socket", "Lamp", [False, True], True),
        ("third-socket", "Lamp", [False, False], False),
    ]
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.raw_path == f"{SOCKETS}/name/value/Lamp".encode()
    assert_headers(request)


@pytest.mark.parametrize(("by", "value"), [("id", PLUG_ID), ("type", "wifi"), ("name", "Desk")])
@pytest.mark.asyncio
async def test_get_plugs_by_each_key(
    client: LegrandClient, mock: respx.MockRouter, by: str, value: str
) -> None:
    path = f"{SOCKETS}/{by}/value/{value}"
    route = mock.get(path).respond(json={"plugs": [{"id": PLUG_ID, "name": "Desk", "status": []}]})
    (plug,) = await client.multisocket.get_plugs(PLANT, by=by, value=value)
    assert (plug.id, plug.name, plug.status, plug.is_on) == (PLUG_ID, "Desk", [], False)
    assert route.calls.last.request.url.raw_path == path.encode()
    assert_headers(route.calls.last.request)


@pytest.mark.asyncio
async def test_get_plugs_positionally(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(f"{SOCKETS}/id/value/{PLUG_ID}").respond(json={"plugs": [{"id": PLUG_ID}]})
    (plug,) = await client.multisocket.get_plugs(PLANT, "id", PLUG_ID)
    assert (plug.id, plug.name, plug.status) == (PLUG_ID, None, [])


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(204),
        httpx.Response(200, json={"plugs": []}),
        httpx.Response(200, json={"plugs": None}),
    ],
)
@pytest.mark.asyncio
async def test_get_plugs_none(
    client: LegrandClient, mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(f"{SOCKETS}/type/value/wifi").mock(return_value=response)
    assert await client.multisocket.get_plugs(PLANT, by="type", value="wifi") == []


@pytest.mark.asyncio
async def test_get_plugs_lenient(client: LegrandClient, mock: respx.MockRouter) -> None:
    """Unknown keys are ignored; boolean strings are booleans."""
    body = {"plugs": [{"id": PLUG_ID, "status": ["true", False], "power": 12}], "total": 1}
    mock.get(f"{SOCKETS}/id/value/{PLUG_ID}").respond(json=body)
    (plug,) = await client.multisocket.get_plugs(PLANT, by="id", value=PLUG_ID)
    assert plug.status == [True, False]


@pytest.mark.parametrize(
    "body",
    [
        {"plugs": {"id": PLUG_ID}},
        {"plugs": [{"name": "no id"}]},
        {"plugs": [{"id": "x", "status": [1]}]},
    ],
)
@pytest.mark.asyncio
async def test_get_plugs_bad_shape(
    client: LegrandClient, mock: respx.MockRouter, body: object
) -> None:
    mock.get(f"{SOCKETS}/id/value/{PLUG_ID}").respond(json=body)
    with pytest.raises(errors.ResponseValidationError):
        await client.multisocket.get_plugs(PLANT, by="id", value=PLUG_ID)


# --- set_plugs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (True, {"status": [True]}),
        (False, {"status": [False]}),
        ([True], {"status": [True]}),
        ([True, False, True], {"status": [True, False, True]}),
        ((False, True), {"status": [False, True]}),
    ],
)
@pytest.mark.asyncio
async def test_set_plugs(
    client: LegrandClient, mock: respx.MockRouter, status: object, body: dict[str, Any]
) -> None:
    route = mock.post(f"{SOCKETS}/name/value/Lamp").respond(200)
    assert await client.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=status) is None
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.raw_path == f"{SOCKETS}/name/value/Lamp".encode()
    assert request.content == json.dumps(body, separators=(",", ":")).encode()
    assert_headers(request, body=body)


@pytest.mark.parametrize("by", ["id", "name", "type"])
@pytest.mark.asyncio
async def test_set_plugs_by_each_key(
    client: LegrandClient, mock: respx.MockRouter, by: str
) -> None:
    route = mock.post(f"{SOCKETS}/{by}/value/x1").respond(204)
    await client.multisocket.set_plugs(PLANT, by=by, value="x1", status=False)
    assert_headers(route.calls.last.request, body={"status": [False]})


# --- percent-encoding --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("Living Room/Lamp", "Living%20Room%2FLamp"),
        ("Lamp #2?", "Lamp%20%232%3F"),
        ("Café+Bar", "Caf%C3%A9%2BBar"),
        ("100%", "100%25"),
        ("a%2Fb", "a%252Fb"),
    ],
)
@pytest.mark.asyncio
async def test_values_are_percent_encoded(
    client: LegrandClient, mock: respx.MockRouter, value: str, encoded: str
) -> None:
    get = mock.route(method="GET").respond(json={"plugs": []})
    post = mock.route(method="POST").respond(200)
    await client.multisocket.get_plugs(PLANT, by="name", value=value)
    await client.multisocket.set_plugs(PLANT, by="name", value=value, status=True)
    expected = f"{SOCKETS}/name/value/{encoded}".encode()
    assert get.calls.last.request.url.raw_path == expected
    assert post.calls.last.request.url.raw_path == expected


@pytest.mark.asyncio
async def test_the_issue_example(client: LegrandClient, mock: respx.MockRouter) -> None:
    route = mock.route(method="GET").respond(json={"plugs": []})
    await client.multisocket.get_plugs(PLANT, by="name", value="Living Room/Lamp")
    assert route.calls.last.request.url.raw_path.endswith(b"/value/Living%20Room%2FLamp")


@pytest.mark.asyncio
async def test_dot_segment_values_never_reach_another_path(client: LegrandClient) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        for call in (
            client.multisocket.get_plugs(PLANT, by="name", value=".."),
            client.multisocket.set_plugs(PLANT, by="name", value=".", status=True),
        ):
            with pytest.raises(ValueError, match="must not be"):
                await call
        assert router.calls.call_count == 0


# --- errors: undocumented bodies, so the text ------------------------------------------------

TEXTS = [
    (400, "A parameter is missing", errors.BadRequest),
    (400, "One of the specified parameter should be an array", errors.BadRequest),
    (401, "The user identified by 'autorization' does not exist.", errors.Unauthorized),
    (
        401,
        "The user identified by 'autorization' does not own the identified 'plantId'",
        errors.Unauthorized,
    ),
    (404, "The plant identified by 'plantId' does not exist.", errors.NotFound),
    (404, "No Plug were found.", errors.NotFound),
]

OPERATIONS: list[tuple[str, Call]] = [
    ("GET", lambda c: c.multisocket.get_plugs(PLANT, by="name", value="Lamp")),
    ("POST", lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=[True])),
]


@pytest.mark.parametrize(("status", "text", "cls"), TEXTS)
@pytest.mark.parametrize(("method", "call"), OPERATIONS, ids=["get_plugs", "set_plugs"])
@pytest.mark.asyncio
async def test_documented_errors_as_text(
    once: LegrandClient,
    mock: respx.MockRouter,
    method: str,
    call: Call,
    status: int,
    text: str,
    cls: type[errors.APIError],
) -> None:
    route = mock.route(method=method, path=f"{SOCKETS}/name/value/Lamp").respond(
        status, text=text, headers={"x-request-id": "ms-1"}
    )
    with pytest.raises(cls) as info:
        await call(once)
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.code, error.message, error.body) == (status, None, text, text)
    assert str(error) == f"{status} {text} (request id ms-1)"
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "message"),
    [
        (
            400,
            {"message": "A parameter is missing"},
            errors.BadRequest,
            None,
            "A parameter is missing",
        ),
        (
            401,
            {"statusCode": 401, "message": "Access denied due to invalid subscription key."},
            errors.Unauthorized,
            401,
            "Access denied due to invalid subscription key.",
        ),
        (
            404,
            {"errors": [{"userMessage": "No Plug were found.", "code": 4}]},
            errors.NotFound,
            4,
            "No Plug were found.",
        ),
        (404, {"Message": "No Plug were found."}, errors.NotFound, None, "No Plug were found."),
    ],
)
@pytest.mark.asyncio
async def test_known_json_bodies_are_read_too(
    once: LegrandClient,
    mock: respx.MockRouter,
    status: int,
    body: dict[str, Any],
    cls: type[errors.APIError],
    code: object,
    message: str,
) -> None:
    mock.get(f"{SOCKETS}/name/value/Lamp").respond(status, json=body)
    with pytest.raises(cls) as info:
        await once.multisocket.get_plugs(PLANT, by="name", value="Lamp")
    assert (info.value.code, info.value.message, info.value.body) == (code, message, body)


@pytest.mark.asyncio
async def test_unknown_json_body_is_kept(once: LegrandClient, mock: respx.MockRouter) -> None:
    body = {"detail": {"reason": "no plug"}, "traceId": "t-1"}
    mock.get(f"{SOCKETS}/name/value/Lamp").respond(404, json=body)
    with pytest.raises(errors.NotFound) as info:
        await once.multisocket.get_plugs(PLANT, by="name", value="Lamp")
    assert info.value.body == body
    assert info.value.message  # never empty: the reason phrase at least
    assert info.value.code is None


@pytest.mark.parametrize("status", [400, 401, 404])
@pytest.mark.asyncio
async def test_empty_error_bodies(once: LegrandClient, mock: respx.MockRouter, status: int) -> None:
    mock.post(f"{SOCKETS}/name/value/Lamp").respond(status)
    with pytest.raises(errors.APIError) as info:
        await once.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=True)
    assert info.value.status_code == status
    assert info.value.message == httpx.codes.get_reason_phrase(status)
    assert info.value.body is None


@pytest.mark.asyncio
async def test_json_string_body_falls_back_to_its_text(
    once: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{SOCKETS}/name/value/Lamp").respond(404, json="No Plug were found.")
    with pytest.raises(errors.NotFound) as info:
        await once.multisocket.get_plugs(PLANT, by="name", value="Lamp")
    assert info.value.message == "No Plug were found."


@pytest.mark.asyncio
async def test_secrets_never_show_in_text_errors(
    once: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{SOCKETS}/name/value/Lamp").respond(401, text=f"token {TOKEN} key {KEY} refused")
    with pytest.raises(errors.Unauthorized) as info:
        await once.multisocket.get_plugs(PLANT, by="name", value="Lamp")
    for text in (str(info.value), repr(info.value), str(info.value.body)):
        assert TOKEN not in text
        assert KEY not in text


# --- validation before any request -------------------------------------------------------

INVALID: list[tuple[Call, type[Exception]]] = [
    (lambda c: c.multisocket.get_plugs(PLANT, by="colour", value="red"), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT, by="ID", value=PLUG_ID), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT, by="", value="Lamp"), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT, by=None, value="Lamp"), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT, by="name", value=""), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT, by="name", value="  "), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT, by="name", value=None), TypeError),
    (lambda c: c.multisocket.get_plugs(PLANT, by="id", value=7), TypeError),
    (lambda c: c.multisocket.get_plugs("not-a-uuid", by="name", value="Lamp"), ValueError),
    (lambda c: c.multisocket.get_plugs("", by="name", value="Lamp"), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT + "/x", by="name", value="Lamp"), ValueError),
    (lambda c: c.multisocket.get_plugs(PLANT.upper() + " ", by="name", value="Lamp"), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="colour", value="Lamp", status=True), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="", status=True), ValueError),
    (lambda c: c.multisocket.set_plugs("12345", by="name", value="Lamp", status=True), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=[]), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status="on"), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=None), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=1), ValueError),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=[1]), TypeError),
    (
        lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=[True, "on"]),
        TypeError,
    ),
    (lambda c: c.multisocket.set_plugs(PLANT, by="name", value="Lamp", status=[None]), TypeError),
]


@pytest.mark.parametrize(("call", "error"), INVALID)
@pytest.mark.asyncio
async def test_invalid_arguments_raise_before_any_request(
    client: LegrandClient, call: Call, error: type[Exception]
) -> None:
    await assert_refused_before_any_request(client, call, error, {"plugs": []})


def test_uuid_ids_in_any_case_are_accepted() -> None:
    """UUIDs are case-insensitive; both cases pass the check (MODULE is just another UUID)."""
    r = route("multisocket", "get_plugs")
    assert r.render_path((PLANT.upper(), "id", MODULE)).endswith(f"/id/value/{MODULE}")


# --- the documented payload, structured strictly ---------------------------------------------


def test_documented_payload_is_strict() -> None:
    doc = {"plugs": [{"id": "string", "name": "string", "status": [True]}]}
    (plug,) = structure(doc["plugs"], list[SocketPlug], converter=make_converter(strict=True))
    assert (plug.id, plug.name, plug.status) == ("string", "string", [True])
    with pytest.raises(errors.ResponseValidationError):
        structure(
            [{"id": "x", "power": 3}], list[SocketPlug], converter=make_converter(strict=True)
        )
