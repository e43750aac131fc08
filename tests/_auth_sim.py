"""Helpers for the auth attack tests: the simulator's rotating OAuth server behind a tap.

The tap records every refresh token sent to ``/token`` and the status answered, and can hold
the answer back (the server has already rotated the refresh token: only that answer holds the
new one) until the test opens its gate, or trickle it byte by byte.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.lowlevel
import httpx
import trio.testing

from legrand_async import LegrandClient, OAuth2Auth, RetryPolicy, Token, TokenStore
from legrand_async.simulator import Simulator
from legrand_async.testing import FakeClock


class TokenTap(httpx.AsyncBaseTransport):
    """Forwards to ``inner``; for ``/token``: records, then waits for ``gate`` if one is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, latency: int = 0) -> None:
        self.inner = inner
        self.latency = latency  # checkpoints before and after the server handles a request
        self.sent: list[str] = []  # refresh tokens (or "code") sent, in order
        self.statuses: list[int] = []  # what the server answered them
        self.gate: anyio.Event | None = None
        self.answered: anyio.Event | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/token"):
            return await self.inner.handle_async_request(request)
        form = parse_qs((await request.aread()).decode())
        self.sent.append(form.get("refresh_token", ["code"])[0])
        await self._travel()
        response = await self.inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        await self._travel()
        if self.answered is not None:
            self.answered.set()
        if self.gate is not None:
            await self.gate.wait()  # the server rotated; the answer is still on its way
        return response

    async def _travel(self) -> None:
        """Let other tasks run, as a network would while bytes travel."""
        for _ in range(self.latency):
            await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await self.inner.aclose()


class Trickle(httpx.AsyncByteStream):
    """A body sent one byte every ``interval`` seconds (``anyio.sleep``: virtual under trio)."""

    def __init__(self, body: bytes, interval: float) -> None:
        self.body = body
        self.interval = interval

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(len(self.body)):
            await anyio.sleep(self.interval)
            yield self.body[i : i + 1]


class FaultyStore:
    """A token store in memory that records what it is asked and fails on demand.

    ``fail_save`` / ``fail_load``: an exception to raise, or a callable building it (from the
    token being saved, so that its message can quote secrets; a load's callable may also return
    nonsense to hand back); ``hang_save`` / ``hang_load``: never answer. ``events`` records
    ``("save", access, refresh)`` (a list shared with the test, if given).
    """

    def __init__(self, token: Token | None = None, events: list[Any] | None = None) -> None:
        self.token = token
        self.events: list[Any] = events if events is not None else []
        self.loads = 0
        self.saves = 0
        self.saved: list[Token] = []
        self.fail_save: Any = None
        self.fail_load: Any = None
        self.hang_save = False
        self.hang_load = False

    async def load(self) -> Token | None:
        self.loads += 1
        await anyio.lowlevel.checkpoint()
        if self.hang_load:
            await anyio.sleep_forever()
        if self.fail_load is not None:
            outcome = self.fail_load() if callable(self.fail_load) else self.fail_load
            if isinstance(outcome, Exception):
                raise outcome
            return outcome  # type: ignore[no-any-return]  # nonsense, on purpose
        return self.token

    async def save(self, token: Token) -> None:
        self.saves += 1
        await anyio.lowlevel.checkpoint()
        if self.hang_save:
            await anyio.sleep_forever()
        if self.fail_save is not None:
            raise self.fail_save(token) if callable(self.fail_save) else self.fail_save
        self.events.append(("save", token.access_token, token.refresh_token))
        self.saved.append(token)
        self.token = token


def run_virtual(main: Any) -> None:
    """Run ``main`` under trio with an autojumping clock: timeouts pass instantly."""
    anyio.run(
        main,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )


def expired_login(sim: Simulator) -> Token:
    """A login the simulator knows, whose access token the client believes expired."""
    issued = sim.app.issue_token()
    return Token(
        issued["access_token"],
        issued["refresh_token"],
        sim.clock.now() - timedelta(seconds=1),
        issued["scope"],
    )


def rig(*, latency: int = 0) -> tuple[Simulator, FakeClock, TokenTap, Token]:
    """A simulator on a fake clock, its token endpoint behind a tap, and an expired login."""
    clock = FakeClock()
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, clock=clock)
    tap = TokenTap(sim.transport(), latency=latency)
    return sim, clock, tap, expired_login(sim)


def auth_for(
    sim: Simulator, tap: TokenTap, store: TokenStore, *, timeout: float = 20.0
) -> OAuth2Auth:
    """OAuth2Auth of the simulator's app through ``tap`` (``timeout``: the app's)."""
    retry = RetryPolicy(initial_delay=0, max_delay=0)
    return OAuth2Auth(sim.oauth_app(transport=tap, retry=retry, timeout=timeout), store)


def client_for(sim: Simulator, auth: OAuth2Auth, **kwargs: Any) -> LegrandClient:
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0, max_delay=0))
    kwargs.setdefault("rng", random.Random(0))
    return sim.client(auth=auth, clock=sim.clock, **kwargs)
