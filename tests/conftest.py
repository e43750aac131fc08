"""Shared test helpers: a fake clock, the real fixtures, a client wired to respx."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx

from legrand_async import LegrandClient, RetryPolicy
from legrand_async._transport.bounded import DEFAULT_MAX_BODY_SIZE, BoundedTransport

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://api.developer.legrand.com"
KEY = "sub-key-5f3c9a"
TOKEN = "access-token-9d2e71"
PLANT = "b5e48d6f-cbad-2711-e053-27182d0ad74c"
MODULE = "1ee68d6f-46b7-8f11-e053-27182d0a846a"
SUBSCRIPTION = "a122e653-53fb-450e-b000-d47659807585"
CHRONO = (
    f"{BASE}/smarther/v2.0/chronothermostat/thermoregulation/addressLocation/plants/{PLANT}"
    f"/modules/parameter/id/value/{MODULE}"
)


# Building an httpx transport loads the CA bundle (~50 ms): tests share one SSL context.
#: A webhook URL for subscribe calls, and the path they post to.
HOOK = "https://example.org/hook"
SUBSCRIBE = f"/smarther/v2.0/plants/{PLANT}/subscription"
#: The OAuth server (Azure AD B2C) and the first data call after a sign-in.
AUTH_HOST = "https://partners-login.eliotbylegrand.com"
TOKEN_URL = f"{AUTH_HOST}/token"
PLANTS_URL = f"{BASE}/smarther/v2.0/plants"

_SSL = httpx.create_ssl_context()


def wire() -> httpx.AsyncHTTPTransport:
    """A real httpx transport (respx intercepts it) on the shared SSL context."""
    return httpx.AsyncHTTPTransport(verify=_SSL)


def load(name: str) -> Any:
    """A fixture payload, parsed."""
    return json.loads((FIXTURES / name).read_text())


def ok_status(request: httpx.Request | None = None) -> httpx.Response:
    """A 200 with the Smarther status fixture (a respx side effect too)."""
    return httpx.Response(200, json=load("smarther_status.json"))


#: The status fixture's bytes, as the wire carries them.
STATUS_BYTES = ok_status().content


async def through_the_stack(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    """``response`` to ``request`` as the client's stack hands it up: read, closed, classified
    once (what the error mapping reads)."""
    wire = httpx.MockTransport(lambda _: response)
    bounded = BoundedTransport(wire, max_body_size=DEFAULT_MAX_BODY_SIZE, clock=FakeClock())
    return await bounded.handle_async_request(request)


class FakeClock:
    """Records sleeps and advances time instead of sleeping."""

    def __init__(self, start: datetime = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx on every host, no route required to be called (token endpoint tests)."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


@asynccontextmanager
async def make_client(
    clock: FakeClock, retry: RetryPolicy | None = None, **kwargs: Any
) -> AsyncIterator[LegrandClient]:
    """A client on the fake clock: the default retry policy without jitter unless ``retry``."""
    kwargs.setdefault("transport", wire())
    kwargs.setdefault("rate_limit", None)  # the limiter has tests of its own
    async with LegrandClient(
        subscription_key=KEY,
        access_token=TOKEN,
        retry=retry if retry is not None else RetryPolicy(jitter=0),
        clock=clock,
        rng=kwargs.pop("rng", random.Random(0)),
        **kwargs,
    ) as client:
        yield client


@pytest_asyncio.fixture
async def client(clock: FakeClock) -> AsyncIterator[LegrandClient]:
    """A client with the default retry policy, no jitter, and the fake clock."""
    async with make_client(clock) as c:
        yield c


@pytest_asyncio.fixture
async def once(clock: FakeClock) -> AsyncIterator[LegrandClient]:
    """A client that does not retry, so each status is seen as sent."""
    async with make_client(clock, RetryPolicy(max_attempts=1)) as client:
        yield client


def assert_headers(request: httpx.Request, *, body: object = None) -> None:
    """The credentials on every request; a JSON body (never form data) on POSTs, and neither a
    body nor a ``Content-Type`` without one."""
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    if body is None:
        assert request.content == b""
        assert "Content-Type" not in request.headers
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == body


async def assert_refused_before_any_request(
    client: LegrandClient,
    call: Callable[[LegrandClient], Awaitable[object]],
    error: type[Exception],
    answer: Any = None,
) -> None:
    """``call(client)`` raises ``error`` with a message and sends nothing (``answer``: the JSON
    a request would have been answered with)."""
    with respx.mock(assert_all_called=False) as router:
        route = router.route().respond(200, json=answer)
        with pytest.raises(error, match=r"\S"):
            await call(client)
        assert route.call_count == 0
        assert router.calls.call_count == 0
