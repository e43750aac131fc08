"""Video door entry on the wire: call home, its JWT tickets, errors and argument checks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from legrand_async import CallHomeTicket, LegrandClient, errors
from legrand_async._converters import make_converter, structure

from .conftest import (
    MODULE,
    PLANT,
    TOKEN,
    FakeClock,
    assert_headers,
    assert_refused_before_any_request,
    load,
)

DEVICE = MODULE
CALL_IN = (
    f"/vdeproducts/v1.0/audiovideounit/videodoorentry/addressLocation/plants/{PLANT}"
    f"/modules/parameter/id/value/{DEVICE}/callIn"
)
EXP = 1795258800  # 2026-11-21T11:00:00Z


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(payload: object, header: object = None) -> str:
    """A JWT as the cloud would send it (the signature is never checked by the library)."""
    head = header if header is not None else {"alg": "RS256", "typ": "JWT"}
    return ".".join(
        [
            b64url(json.dumps(head).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(b"\x8a\x01signature-bytes\xff"),
        ]
    )


def unit(ticket: str, plant_id: str = PLANT) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "sender": {
            "addressType": "addressLocation",
            "system": "videodoorentry",
            "plant": {"id": plant_id},
        },
    }


# --- call_home ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_call_home(client: LegrandClient, mock: respx.MockRouter) -> None:
    ticket = jwt({"sub": "user-1", "plant": PLANT, "iat": EXP - 300, "exp": EXP})
    route = mock.get(CALL_IN).respond(json={"audiovideounits": [unit(ticket)]})
    (result,) = await client.door_entry.call_home(PLANT, DEVICE)
    assert isinstance(result, CallHomeTicket)
    assert result.ticket == ticket
    assert result.plant_id == PLANT
    assert result.expires_at == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    assert result.expires_at is not None
    assert result.expires_at.tzinfo is UTC
    assert result.sender is not None
    assert (result.sender.address_type, result.sender.system) == (
        "addressLocation",
        "videodoorentry",
    )
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.raw_path == CALL_IN.encode()
    assert_headers(request)


@pytest.mark.asyncio
async def test_call_home_several_tickets(client: LegrandClient, mock: respx.MockRouter) -> None:
    tickets = [jwt({"exp": EXP}), jwt({"exp": EXP + 60.5}), "string"]
    body = {"audiovideounits": [unit(t) for t in tickets]}
    mock.get(CALL_IN).respond(json=body)
    result = await client.door_entry.call_home(PLANT, DEVICE)
    assert [t.ticket for t in result] == tickets
    assert [t.expires_at for t in result] == [
        datetime(2026, 11, 21, 11, 0, tzinfo=UTC),
        datetime(2026, 11, 21, 11, 1, 0, 500000, tzinfo=UTC),
        None,
    ]


@pytest.mark.asyncio
async def test_documented_example(client: LegrandClient, mock: respx.MockRouter) -> None:
    """The portal's example answer: a ticket "string" (not a JWT) and a plant id "string"."""
    mock.get(CALL_IN).respond(json=load("vde_call_home_doc.json"))
    (ticket,) = await client.door_entry.call_home(PLANT, DEVICE)
    assert (ticket.ticket, ticket.plant_id, ticket.expires_at) == ("string", "string", None)


@pytest.mark.asyncio
async def test_ticket_without_sender(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(CALL_IN).respond(json={"audiovideounits": [{"ticket": "t"}]})
    (ticket,) = await client.door_entry.call_home(PLANT, DEVICE)
    assert (ticket.plant_id, ticket.sender) == (None, None)


@pytest.mark.asyncio
async def test_no_tickets(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(CALL_IN).respond(json={"audiovideounits": []})
    assert await client.door_entry.call_home(PLANT, DEVICE) == []


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(204),
        httpx.Response(200, json={}),
        httpx.Response(200, json={"audiovideounits": [{"sender": {}}]}),
        httpx.Response(200, text="<html>gateway</html>"),
    ],
)
@pytest.mark.asyncio
async def test_unusable_answers(
    client: LegrandClient, mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(CALL_IN).mock(return_value=response)
    with pytest.raises(errors.ResponseValidationError):
        await client.door_entry.call_home(PLANT, DEVICE)


# --- expires_at --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ticket",
    [
        "string",
        "",
        "a.b",
        "a.b.c.d.e",
        jwt({"exp": "1795258800"}),
        jwt({"exp": "tomorrow"}),
        jwt({"exp": None}),
        jwt({"exp": True}),
        jwt({"exp": [EXP]}),
        jwt({"exp": 10**30}),
        jwt({"sub": "no exp"}),
        jwt([EXP]),
        jwt("exp"),
        "header." + b64url(b"\xff\xfe not json") + ".sig",
        "header.%%%not-base64%%%.sig",
        "header." + b64url(b'{"exp": NaN}') + ".sig",
        "header." + b64url(b'{"exp": Infinity}') + ".sig",
    ],
)
def test_unreadable_expiry_is_none(ticket: str) -> None:
    assert CallHomeTicket(ticket=ticket).expires_at is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"exp": EXP}, datetime(2026, 11, 21, 11, 0, tzinfo=UTC)),
        ({"exp": 0}, datetime(1970, 1, 1, tzinfo=UTC)),
        (
            {"exp": EXP + 0.25, "nbf": EXP - 60},
            datetime(2026, 11, 21, 11, 0, 0, 250000, tzinfo=UTC),
        ),
    ],
)
def test_expiry_from_the_jwt(payload: dict[str, Any], expected: datetime) -> None:
    expires_at = CallHomeTicket(ticket=jwt(payload)).expires_at
    assert expires_at == expected
    assert expires_at is not None
    assert expires_at.tzinfo is UTC


def test_expiry_with_padding_in_the_payload() -> None:
    """Some encoders keep the "=" padding; it is read all the same."""
    payload = base64.urlsafe_b64encode(json.dumps({"exp": EXP}).encode()).decode()
    assert CallHomeTicket(ticket=f"h.{payload}.s").expires_at == datetime(
        2026, 11, 21, 11, 0, tzinfo=UTC
    )


# --- errors: {"statusCode", "message"} ----------------------------------------------------

VDE_ERRORS = [
    (400, "Bad request", errors.BadRequest),
    (401, "Unauthorized", errors.Unauthorized),
    (404, "Resource not found", errors.NotFound),
    (408, "Request timeout", errors.RequestTimeout),
]


@pytest.mark.parametrize(("status", "message", "cls"), VDE_ERRORS)
@pytest.mark.asyncio
async def test_documented_errors(
    once: LegrandClient,
    mock: respx.MockRouter,
    status: int,
    message: str,
    cls: type[errors.APIError],
) -> None:
    body = {"statusCode": status, "message": message}
    route = mock.get(CALL_IN).respond(status, json=body, headers={"x-request-id": "vde-7"})
    with pytest.raises(cls) as info:
        await once.door_entry.call_home(PLANT, DEVICE)
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.code, error.message, error.body) == (
        status,
        status,
        message,
        body,
    )
    assert str(error) == f"{status} {message} (request id vde-7)"
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_408_is_retried(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    ticket = jwt({"exp": EXP})
    route = mock.get(CALL_IN)
    route.side_effect = [
        httpx.Response(408, json={"statusCode": 408, "message": "Request timeout"}),
        httpx.Response(200, json={"audiovideounits": [unit(ticket)]}),
    ]
    (result,) = await client.door_entry.call_home(PLANT, DEVICE)
    assert result.ticket == ticket
    assert route.call_count == 2
    assert clock.sleeps == [3.0]  # Legrand: 408, "wait a few seconds and try again"


@pytest.mark.asyncio
async def test_secrets_never_show_in_errors(once: LegrandClient, mock: respx.MockRouter) -> None:
    body = {"statusCode": 401, "message": f"Unauthorized: {TOKEN}"}
    mock.get(CALL_IN).respond(401, json=body)
    with pytest.raises(errors.Unauthorized) as info:
        await once.door_entry.call_home(PLANT, DEVICE)
    assert TOKEN not in str(info.value)
    assert TOKEN not in json.dumps(info.value.body)


# --- validation before any request -------------------------------------------------------

Call = Callable[[LegrandClient], Coroutine[Any, Any, object]]

INVALID: list[tuple[Call, type[Exception]]] = [
    (lambda c: c.door_entry.call_home("not-a-uuid", DEVICE), ValueError),
    (lambda c: c.door_entry.call_home(PLANT, "not-a-uuid"), ValueError),
    (lambda c: c.door_entry.call_home("", DEVICE), ValueError),
    (lambda c: c.door_entry.call_home(PLANT, ""), ValueError),
    (lambda c: c.door_entry.call_home(PLANT, DEVICE + "/callIn"), ValueError),
    (lambda c: c.door_entry.call_home(PLANT, "../" + DEVICE), ValueError),
    (lambda c: c.door_entry.call_home(PLANT, None), TypeError),
    (lambda c: c.door_entry.call_home(123, DEVICE), TypeError),
]


@pytest.mark.parametrize(("call", "error"), INVALID)
@pytest.mark.asyncio
async def test_invalid_arguments_raise_before_any_request(
    client: LegrandClient, call: Call, error: type[Exception]
) -> None:
    await assert_refused_before_any_request(client, call, error, {"audiovideounits": []})


# --- the shared fixture, structured strictly -----------------------------------------------


def test_call_home_fixture_is_strict() -> None:
    strict = make_converter(strict=True)
    tickets = structure(
        load("vde_call_home_doc.json")["audiovideounits"], list[CallHomeTicket], converter=strict
    )
    (ticket,) = tickets
    assert isinstance(ticket, CallHomeTicket)
    assert (ticket.ticket, ticket.plant_id, ticket.expires_at) == ("string", "string", None)
    assert ticket.sender is not None
    assert (ticket.sender.address_type, ticket.sender.system) == (
        "addressLocation",
        "videodoorentry",
    )
    with pytest.raises(errors.ResponseValidationError):
        structure([{"ticket": "t", "expiresIn": 60}], list[CallHomeTicket], converter=strict)
