"""OAuthApp owns one pooled client: the CA bundle loaded once, closed with the app."""

from __future__ import annotations

import httpx
import pytest

from legrand_async import OAuthApp, RetryPolicy, TokenServerError
from legrand_async._auth import app as app_module

from .conftest import FakeClock

SECRET = "SECRET-pool-c0ffee"
RT = "RT-pool-9b2c"


def token_answer(request: httpx.Request) -> httpx.Response:
    body = {"access_token": "AT-pool", "refresh_token": RT, "token_type": "Bearer"}
    return httpx.Response(200, json={**body, "expires_in": 3600})


class CountingTransport(httpx.MockTransport):
    """A wire that counts how often it was made (each real one loads the CA bundle) and closed."""

    made = 0

    def __init__(self, **_: object) -> None:
        super().__init__(token_answer)
        CountingTransport.made += 1
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountingTransport]:
    CountingTransport.made = 0
    monkeypatch.setattr(app_module.httpx, "AsyncHTTPTransport", CountingTransport)
    return CountingTransport


def app(clock: FakeClock, transport: httpx.AsyncBaseTransport | None = None) -> OAuthApp:
    return OAuthApp("id", SECRET, "https://app.example.org/cb", clock=clock, transport=transport)


@pytest.mark.asyncio
async def test_one_pool_serves_every_token_request(
    clock: FakeClock, counted: type[CountingTransport]
) -> None:
    oauth = app(clock)
    assert counted.made == 0  # nothing is made before the first request
    async with oauth:
        await oauth.refresh(RT)
        await oauth.refresh(RT)
        await oauth.exchange_code("CODE-pool")
        assert counted.made == 1
        pool = oauth._http
        assert pool is not None
    assert pool.is_closed
    assert oauth._http is None
    await oauth.refresh(RT)  # after aclose(): a new pool
    assert counted.made == 2
    await oauth.aclose()
    await oauth.aclose()  # twice is harmless


@pytest.mark.asyncio
async def test_a_transport_of_yours_is_never_closed(clock: FakeClock) -> None:
    yours = CountingTransport()
    async with app(clock, yours) as oauth:
        await oauth.refresh(RT)
    assert not yours.closed


@pytest.mark.asyncio
async def test_token_errors_scrub_the_request_id_too(clock: FakeClock) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, headers={"x-ms-request-id": f"id-{RT}"}, json={"error": "x"})

    oauth = OAuthApp(
        "id",
        SECRET,
        "https://app.example.org/cb",
        clock=clock,
        transport=httpx.MockTransport(echo),
        retry=RetryPolicy(max_attempts=1),
    )
    async with oauth:
        with pytest.raises(TokenServerError) as info:
            await oauth.refresh(RT)
    assert RT not in str(info.value.request_id)


def test_an_app_used_in_a_second_event_loop_gets_a_pool_of_its_own(
    clock: FakeClock, counted: type[CountingTransport]
) -> None:
    """An app kept across ``asyncio.run`` calls (a CLI, a script's steps) never sends through
    connections of a loop that is gone."""
    import asyncio

    oauth = app(clock)
    pools: list[object] = []

    async def once() -> None:
        await oauth.refresh(RT)
        pools.append(oauth._http)

    asyncio.run(once())
    asyncio.run(once())
    assert counted.made == 2
    assert pools[0] is not pools[1]

    async def close() -> None:
        await oauth.aclose()

    asyncio.run(close())  # a pool of a loop that is gone is dropped, not awaited in this one
    assert oauth._http is None
