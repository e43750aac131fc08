"""Every documented status maps to its error class, with code, message and request id."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import respx

import legrand_async
from legrand_async import LegrandClient, SetStatus, errors
from legrand_async._transport.classify import parse_error_body

from .conftest import CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock

SMARTHER_BODIES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Resource not found",
    408: "Request timeout",
    430: "Wrong input parameters",
    469: "Password used in the Thermostat official app is expired. "
    "Please renew it through the official application.",
    470: "Terms and conditions for Thermostat official app are expired. "
    "Please accept them again through the official application.",
    486: "Busy visual user interface",
    500: "Server internal error",
}

CLASSES = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    406: errors.NotAcceptable,
    408: errors.RequestTimeout,
    409: errors.Conflict,
    429: errors.RateLimited,
    430: errors.WrongInput,
    469: errors.AppPasswordExpired,
    470: errors.TermsExpired,
    486: errors.DeviceBusy,
    500: errors.ServerError,
    502: errors.ServerError,
    503: errors.ServerError,
    504: errors.ServerError,
}


@pytest.mark.parametrize(("status", "message"), sorted(SMARTHER_BODIES.items()))
@pytest.mark.asyncio
async def test_smarther_error_bodies(
    once: LegrandClient, mock: respx.MockRouter, status: int, message: str
) -> None:
    mock.post(CHRONO).respond(
        status,
        json={"statusCode": status, "message": message},
        headers={"x-request-id": "req-42"},
    )
    with pytest.raises(CLASSES[status]) as info:
        await once.smarther.set_status(PLANT, MODULE, SetStatus.manual(20))
    error = info.value
    assert isinstance(error, errors.APIError)
    assert isinstance(error, legrand_async.LegrandError)
    assert error.status_code == status
    assert error.code == status
    assert error.message == message
    assert error.request_id == "req-42"
    assert error.body == {"statusCode": status, "message": message}
    assert error.attempts == 1
    assert str(error) == f"{status} {message} (request id req-42)"


@pytest.mark.parametrize("status", sorted(CLASSES))
@pytest.mark.asyncio
async def test_every_status_maps_to_its_class(
    once: LegrandClient, mock: respx.MockRouter, status: int
) -> None:
    mock.get(CHRONO).respond(status, json={"statusCode": status, "message": f"m{status}"})
    with pytest.raises(errors.APIError) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert type(info.value) is CLASSES[status]
    assert info.value.status_code == status


@pytest.mark.parametrize(("status", "cls"), [(418, errors.APIError), (599, errors.ServerError)])
@pytest.mark.asyncio
async def test_undocumented_statuses(
    once: LegrandClient, mock: respx.MockRouter, status: int, cls: type[errors.APIError]
) -> None:
    mock.get(CHRONO).respond(status, text="teapot")
    with pytest.raises(cls) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert type(info.value) is cls
    assert info.value.message == "teapot"


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b'{"statusCode": 404, "message": "Resource not found"}', 404, "Resource not found"),
        (
            b'{"errors": [{"userMessage": "Invalid arguments", "internalMessage": "x", '
            b'"code": 7}]}',
            7,
            "Invalid arguments",
        ),
        (b'{"errors": [{"internalMessage": "only internal", "code": 0}]}', 0, "only internal"),
        (
            b'{"error": "invalid_grant", "error_description": "AADB2C90085: expired"}',
            "invalid_grant",
            "AADB2C90085: expired",
        ),
        (b'{"message": "Internal error", "code": 1}', 1, "Internal error"),
        (b'{"error": {"code": "Busy", "message": "try later"}}', "Busy", "try later"),
        (b"Service Unavailable", None, "Service Unavailable"),
        (b"", None, None),
        (b"[]", None, None),
    ],
)
def test_parse_error_body(content: bytes, code: object, message: str | None) -> None:
    assert parse_error_body(content)[:2] == (code, message)


@pytest.mark.asyncio
async def test_home_control_body_format(once: LegrandClient, mock: respx.MockRouter) -> None:
    body = {
        "errors": [{"userMessage": "Request not acceptable", "internalMessage": "i", "code": 3}]
    }
    mock.get(CHRONO).respond(406, json=body)
    with pytest.raises(errors.NotAcceptable) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert (info.value.code, info.value.message, info.value.body) == (
        3,
        "Request not acceptable",
        body,
    )


@pytest.mark.asyncio
async def test_empty_error_body_uses_reason(once: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(CHRONO).respond(404)
    with pytest.raises(errors.NotFound) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert info.value.message == "Not Found"
    assert info.value.code is None


@pytest.mark.asyncio
async def test_daily_quota_is_quota_exhausted(
    once: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    message = "Out of call volume quota. Quota will be replenished in 05:12:33."
    mock.get(CHRONO).respond(403, json={"statusCode": 403, "message": message})
    with pytest.raises(errors.QuotaExhausted) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert info.value.status_code == 403
    assert info.value.message == message
    assert info.value.resets_at == clock.now() + timedelta(hours=5, minutes=12, seconds=33)
    assert info.value.resets_at is not None
    assert info.value.resets_at.utcoffset() == timedelta(0)


@pytest.mark.asyncio
async def test_plain_403_is_forbidden(once: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(CHRONO).respond(403, json={"statusCode": 403, "message": "Operation forbidden"})
    with pytest.raises(errors.Forbidden):
        await once.smarther.get_status(PLANT, MODULE)


@pytest.mark.asyncio
async def test_secrets_never_show_in_errors(once: LegrandClient, mock: respx.MockRouter) -> None:
    echo = f"Access denied: key {KEY} with token Bearer {TOKEN} is invalid"
    mock.get(CHRONO).respond(401, json={"statusCode": 401, "message": echo})
    with pytest.raises(errors.Unauthorized) as info:
        await once.smarther.get_status(PLANT, MODULE)
    for text in (str(info.value), repr(info.value), info.value.message):
        assert KEY not in text
        assert TOKEN not in text
    assert "***" in info.value.message


@pytest.mark.asyncio
async def test_secrets_never_show_in_text_bodies(
    once: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(CHRONO).respond(500, text=f"boom {TOKEN}")
    with pytest.raises(errors.ServerError) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert TOKEN not in str(info.value)
    assert TOKEN not in str(info.value.body)


@pytest.mark.asyncio
async def test_transport_error_wraps_httpx(once: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(CHRONO).mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(errors.TransportError) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.attempts == 1
    assert "connection refused" in str(info.value)
    assert TOKEN not in str(info.value)
    assert KEY not in str(info.value)


def test_every_error_is_importable_from_the_package() -> None:
    for name in errors.__all__:
        assert getattr(legrand_async, name) is getattr(errors, name)
        assert issubclass(getattr(errors, name), errors.LegrandError)


@pytest.mark.asyncio
async def test_secrets_are_scrubbed_from_json_bodies_and_long_messages(
    once: LegrandClient, mock: respx.MockRouter
) -> None:
    message = "x" * 495 + TOKEN
    body = {"statusCode": 400, "message": message, "echo": {"headers": [KEY]}}
    mock.get(CHRONO).respond(400, json=body)
    with pytest.raises(errors.BadRequest) as info:
        await once.smarther.get_status(PLANT, MODULE)
    assert TOKEN[:5] not in info.value.message
    assert len(info.value.message) <= 500
    assert info.value.body == {
        "statusCode": 400,
        "message": "x" * 495 + "***",
        "echo": {"headers": ["***"]},
    }
