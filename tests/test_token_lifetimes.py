"""When a token is refreshed: short lifetimes against ``refresh_margin``, wall clocks that jump
either way during a session, and a clock that reads local time across a DST night. The
token endpoint (respx) issues numbered tokens; the API refuses an access token once it has
really expired (by monotonic time, which never jumps), as the cloud does.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from legrand_async import (
    InvalidTokenResponse,
    LegrandClient,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    RetryPolicy,
    Token,
)

from .conftest import KEY, PLANT, PLANTS_URL, TOKEN_URL, wire
from .limiter_support import JumpClock

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class Cloud:
    """Issues ``AT-n``/``RT-n`` living ``lifetime`` s and accepts each until it really expired."""

    def __init__(self, router: respx.MockRouter, clock: JumpClock, lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.expiry: dict[str, float] = {}  # access token -> monotonic expiry
        self.refreshes: list[float] = []  # monotonic times of the refreshes
        self.rejected = 0
        router.post(TOKEN_URL).mock(side_effect=self.token)
        router.get(PLANTS_URL).mock(side_effect=self.plants)

    def token(self, request: httpx.Request) -> httpx.Response:
        n = len(self.refreshes) + 1
        self.refreshes.append(self.clock.monotonic())
        self.expiry[f"AT-{n}"] = self.clock.monotonic() + self.lifetime
        answer = {
            "access_token": f"AT-{n}",
            "refresh_token": f"RT-{n}",
            "expires_in": self.lifetime,
        }
        return httpx.Response(200, json=answer)

    def plants(self, request: httpx.Request) -> httpx.Response:
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        if self.expiry.get(bearer, -1) <= self.clock.monotonic():
            self.rejected += 1
            return httpx.Response(401, json={"statusCode": 401, "message": "Token expired"})
        return httpx.Response(200, json={"plants": [{"id": PLANT, "name": "Home"}]})


def session(clock: Any, **auth_options: Any) -> tuple[OAuth2Auth, Callable[[], LegrandClient]]:
    """An auth whose login expired long ago, and a factory of clients that use it."""
    app = OAuthApp(
        "client-life", "SECRET-life", "https://app.example.org/cb", clock=clock, transport=wire()
    )
    expired = Token("AT-0", "RT-0", clock.now() - timedelta(days=1))
    auth = OAuth2Auth(app, MemoryTokenStore(expired), **auth_options)

    def client() -> LegrandClient:
        return LegrandClient(
            KEY,
            auth=auth,
            transport=wire(),
            clock=clock,
            retry=RetryPolicy(jitter=0),
            rng=random.Random(0),
            rate_limit=None,
        )

    return auth, client


@pytest.mark.parametrize(("lifetime", "every"), [(10, 1.0), (1, 0.25), (60, 5.0)])
@pytest.mark.asyncio
async def test_a_short_lived_token_is_refreshed_near_its_expiry_not_on_every_call(
    router: respx.MockRouter, lifetime: float, every: float
) -> None:
    clock = JumpClock(START)
    cloud = Cloud(router, clock, lifetime)
    _, client = session(clock)  # refresh_margin: the default 300 s, far above the lifetime
    calls = 200
    async with client() as c:
        for _ in range(calls):
            assert [p.id for p in await c.smarther.list_plants()] == [PLANT]
            clock.advance(every)
    spent = calls * every
    assert len(cloud.refreshes) <= spent / (0.85 * lifetime) + 2  # once per ~lifetime
    gaps = [b - a for a, b in zip(cloud.refreshes, cloud.refreshes[1:], strict=False)]
    assert min(gaps) >= 0.85 * lifetime  # never long before the expiry
    assert cloud.rejected == 0  # and never after it


@pytest.mark.asyncio
async def test_a_token_that_does_not_live_at_all_is_refused(router: respx.MockRouter) -> None:
    clock = JumpClock(START)
    Cloud(router, clock, 0)
    auth, _ = session(clock)
    with pytest.raises(InvalidTokenResponse):
        await auth.token()


@pytest.mark.parametrize("step", [2 * 3600, -2 * 3600, 30 * 86400, -400 * 86400])
@pytest.mark.asyncio
async def test_a_wall_clock_that_jumps_costs_at_most_one_extra_refresh(
    router: respx.MockRouter, step: float
) -> None:
    """NTP or an administrator steps the wall clock mid-session. Forward: the token looks
    expired, one refresh. Back: it looks good for longer; the API's 401 at its real expiry
    triggers one refresh and the call is sent again. Never a storm, never a failed call."""
    clock = JumpClock(START)
    cloud = Cloud(router, clock, 3600)
    _, client = session(clock)
    async with client() as c:
        for minute in range(4 * 60):
            if minute == 30:
                clock.step(step)
            assert [p.id for p in await c.smarther.list_plants()] == [PLANT], minute
            clock.advance(60)
    assert len(cloud.refreshes) <= 4 + 1 + 1  # one an hour, the first, one for the jump
    assert cloud.rejected <= 4  # a step back is learnt from a 401 once per token at most


class ZoneClock:
    """A clock that reads local (aware) time in ``zone``, as a user's own clock might."""

    def __init__(self, inner: JumpClock, zone: str) -> None:
        self.inner = inner
        self.zone = ZoneInfo(zone)

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def now(self) -> datetime:
        return self.inner.now().astimezone(self.zone)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@pytest.mark.parametrize(
    "utc",
    [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 0, 30, tzinfo=UTC)],
    ids=["fall-back", "spring-forward"],
)
@pytest.mark.asyncio
async def test_a_local_clock_on_a_dst_night_keeps_the_real_lifetime(
    router: respx.MockRouter, utc: datetime
) -> None:
    """Europe/Paris at 02:30 on the night the clocks go back: "now + 3600 s" in local wall
    time is two real hours away; the token must expire one real hour after it was issued."""
    inner = JumpClock(utc)
    clock = ZoneClock(inner, "Europe/Paris")
    cloud = Cloud(router, inner, 3600)
    auth, client = session(clock)
    token = await auth.token()
    assert token.expires_at == utc + timedelta(hours=1)
    async with client() as c:
        for _ in range(3 * 12):  # three hours, a call every five minutes
            assert [p.id for p in await c.smarther.list_plants()] == [PLANT]
            inner.advance(300)
    assert cloud.rejected == 0
    assert len(cloud.refreshes) == 1 + 3
