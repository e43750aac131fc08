"""The client's construction, lifecycle, wire options and secrecy."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from legrand_async import LegrandClient, ResponseValidationError, RetryPolicy

from .conftest import BASE, CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock, load


class Recorder(httpx.AsyncBaseTransport):
    """A transport that answers from fixtures and records requests and closing."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"subscription_key": ""}, ValueError),
        ({"subscription_key": "   "}, ValueError),
        ({"subscription_key": KEY, "access_token": ""}, ValueError),
        (
            {"subscription_key": KEY, "access_token": TOKEN, "auth": httpx.BasicAuth("a", "b")},
            ValueError,
        ),
        (
            {"subscription_key": KEY, "http_client": httpx.AsyncClient(), "transport": Recorder()},
            ValueError,
        ),
        ({"subscription_key": KEY, "base_url": "api.example.org"}, ValueError),
        ({"subscription_key": KEY, "retry": {"max_attempts": 2}}, TypeError),
    ],
)
def test_bad_construction(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        LegrandClient(**kwargs)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_custom_transport_and_base_url() -> None:
    wire = Recorder(httpx.Response(200, json=load("smarther_status.json")))
    client = LegrandClient(
        subscription_key=KEY, access_token=TOKEN, base_url="http://127.0.0.1:9/", transport=wire
    )
    status = await client.smarther.get_status(PLANT, MODULE)
    assert status.setpoint == 18.0
    (request,) = wire.requests
    assert str(request.url) == CHRONO.replace(BASE, "http://127.0.0.1:9")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    await client.aclose()
    assert wire.closed


@pytest.mark.asyncio
async def test_user_http_client_is_the_wire_and_stays_open() -> None:
    seen: list[httpx.Request] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request)

    wire = Recorder(
        httpx.Response(503, json={"statusCode": 503, "message": "busy"}),
        httpx.Response(200, json=load("smarther_status.json")),
    )
    user = httpx.AsyncClient(transport=wire, event_hooks={"request": [hook]})
    async with LegrandClient(
        subscription_key=KEY,
        access_token=TOKEN,
        http_client=user,
        retry=RetryPolicy(initial_delay=0, max_delay=0),
    ) as client:
        status = await client.smarther.get_status(PLANT, MODULE)
    assert status.temperature == 19.5
    assert len(seen) == 2  # the retry went through the user's client too
    assert all(r.headers["ocp-apim-subscription-key"] == KEY for r in seen)
    assert not user.is_closed
    assert not wire.closed
    await user.aclose()


@pytest.mark.asyncio
async def test_custom_auth(mock: respx.MockRouter) -> None:
    route = mock.get(CHRONO).respond(json=load("smarther_status.json"))
    async with LegrandClient(subscription_key=KEY, auth=httpx.BasicAuth("u", "p")) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


@pytest.mark.asyncio
async def test_aclose_without_context_manager(mock: respx.MockRouter) -> None:
    mock.get(CHRONO).respond(json=load("smarther_status.json"))
    client = LegrandClient(subscription_key=KEY, access_token=TOKEN)
    await client.smarther.get_status(PLANT, MODULE)
    await client.aclose()
    with pytest.raises(RuntimeError):
        await client.smarther.get_status(PLANT, MODULE)


@pytest.mark.asyncio
async def test_no_secret_in_repr_or_logs(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get(CHRONO).mock(
        side_effect=[
            httpx.Response(486, json={"statusCode": 486, "message": "Busy"}),
            httpx.Response(200, json=load("smarther_status.json")),
        ]
    )
    client = LegrandClient(
        subscription_key=KEY, access_token=TOKEN, retry=RetryPolicy(initial_delay=0), clock=clock
    )
    async with client:
        await client.smarther.get_status(PLANT, MODULE)
    texts = [repr(client), str(client), repr(client._http.auth)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in t for t in texts)
    for text in texts:
        assert KEY not in text
        assert TOKEN not in text


@pytest.mark.asyncio
async def test_stats_count_attempts_statuses_and_retries(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(486, json={"statusCode": 486, "message": "Busy"}),
            httpx.Response(200, json=load("smarther_status.json")),
        ]
    )
    async with LegrandClient(
        subscription_key=KEY, access_token=TOKEN, retry=RetryPolicy(initial_delay=0), clock=clock
    ) as client:
        await client.smarther.get_status(PLANT, MODULE)
        stats = client.stats
    assert clock.sleeps == [0.0, 10.0]  # a 486 waits Legrand's 10 s (on the fake clock)
    assert stats.attempts == 3
    assert dict(stats.statuses) == {486: 1, 200: 1}
    assert dict(stats.errors) == {"ConnectError": 1}
    assert dict(stats.retries) == {"ConnectError": 1, "486": 1}
    assert stats.retried == 2


@pytest.mark.asyncio
async def test_a_body_a_decoding_wire_cannot_decode_is_a_documented_error(
    mock: respx.MockRouter,
) -> None:
    """respx (or any wire that decodes bodies itself) raises httpx.DecodingError on a body that
    is not in the Content-Encoding it claims: the client maps it like the bounded reader does."""
    route = mock.get(CHRONO).respond(
        200, stream=httpx.ByteStream(b"not gzip"), headers={"Content-Encoding": "gzip"}
    )
    async with LegrandClient(subscription_key=KEY, access_token=TOKEN) as client:
        with pytest.raises(ResponseValidationError, match="could not be decoded") as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 1
    assert TOKEN not in str(info.value)
    assert KEY not in str(info.value)
