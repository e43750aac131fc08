"""An embedded, stateful simulator of the Legrand developer cloud (needs the ``simulator`` extra).

::

    from legrand_async.simulator import Simulator

    sim = Simulator.fleet(plants=50, thermostats_per_plant=2, seed=0)
    async with sim.client() as client:          # a LegrandClient wired to it
        plants = await client.smarther.list_plants()

It serves every route of the route table (Smarther v2.0, Home + Control, Multisocket, door entry)
with state that sticks, the OAuth server (``/authorize`` with auto-consent, ``/token`` with
expiring access tokens and rotating refresh tokens), the API Management gateway (subscription key,
per-second rate limit with 429, daily quota with 403) and seeded faults. Time is the ``clock``'s,
so tests can move it (a boost ends after its minutes). ``sim.device(plant, module).set(...)``
changes a thermostat as its user would at the wall, pushed to C2C subscribers like a change made
through the API; ``sim.pushes`` gives push a latency, a drop rate and outages.

The parts: ``_app.py`` assembles; ``_gateway.py`` (API Management, ASGI middleware) and
``_oauth.py`` (the sign-in service, its own app); ``smarther.py``, ``home_control.py``,
``multisocket.py``, ``door_entry.py`` (each family's handler table); ``_fleet.py`` (the state);
``_deliveries.py`` (C2C push); ``_device.py``; ``_faults.py``; ``_cli.py``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx

from .._auth import OAuthApp, Token
from .._client import LegrandClient
from .._clock import Clock, SystemClock
from ._app import SimulatorApp
from ._deliveries import PushControls
from ._device import Device
from ._faults import ConnectionDropped, Faults
from ._fleet import Fleet, SimPlant, Thermostat

__all__ = ["BASE_URL", "Device", "Faults", "PushControls", "SimPlant", "Simulator", "Thermostat"]

#: The base URL of the in-process simulator (no request leaves the process).
BASE_URL = "http://legrand.simulator"
REDIRECT_URI = "https://app.example.org/callback"


class _Transport(httpx.ASGITransport):
    """The ASGI transport, turning a simulated dropped connection into the httpx error."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc


class Simulator:
    """The simulated cloud. Build one with :meth:`fleet`."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        seed: int = 0,
        fault_rate: float = 0.0,
        per_second: int | None = None,
        per_day: int | None = None,
        clock: Clock | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        access_lifetime: timedelta = timedelta(hours=1),
        reuse_refresh_tokens: bool = False,
        device_zone: str | tzinfo = UTC,
        hc_form_bodies: bool = False,
    ) -> None:
        """The arguments are those of :meth:`fleet` (docs/simulator.md). The last three choose
        where the real cloud's behaviour is unknown ("Choices"): whether a refresh token, once
        used, may be used again; the zone of activation times sent without an offset (an IANA
        name or a ``tzinfo``); whether Home + Control takes form-encoded bodies. The defaults
        are the strict ones."""
        if not 0 <= fault_rate <= 1:
            raise ValueError("fault_rate is a probability, 0..1")
        zone = ZoneInfo(device_zone) if isinstance(device_zone, str) else device_zone
        rng = random.Random(seed)
        self.subscription_key = f"sim-key-{rng.getrandbits(64):016x}"
        self.client_id = f"sim-client-{rng.getrandbits(32):08x}"
        self.client_secret = f"sim-secret-{rng.getrandbits(64):016x}"
        self.redirect_uri = REDIRECT_URI
        self.base_url = BASE_URL
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.app = SimulatorApp(
            fleet,
            clock=self.clock,
            subscription_key=self.subscription_key,
            client_id=self.client_id,
            client_secret=self.client_secret,
            faults=Faults(rate=fault_rate, rng=random.Random(seed + 1)),
            pushes=PushControls(rng=random.Random(seed + 2)),
            per_second=per_second,
            per_day=per_day,
            webhook_transport=webhook_transport,
            access_lifetime=access_lifetime,
            reuse_refresh_tokens=reuse_refresh_tokens,
            device_zone=zone,
            hc_form_bodies=hc_form_bodies,
        )

    @classmethod
    def fleet(
        cls,
        plants: int = 5,
        thermostats_per_plant: int = 1,
        seed: int = 0,
        fault_rate: float = 0.0,
        per_second: int | None = None,
        per_day: int | None = None,
        **kwargs: Any,
    ) -> Simulator:
        """A simulator with a reproducible population of ``plants`` plants."""
        if plants < 0 or thermostats_per_plant < 0:
            raise ValueError("plants and thermostats_per_plant must be >= 0")
        return cls(
            Fleet.generate(plants, thermostats_per_plant, seed),
            seed=seed,
            fault_rate=fault_rate,
            per_second=per_second,
            per_day=per_day,
            **kwargs,
        )

    @property
    def plants(self) -> list[SimPlant]:
        """The plants: each is its id (a str) with ``.name``, ``.thermostats``, ``.hc_id``..."""
        return self.app.fleet.plants

    @property
    def faults(self) -> Faults:
        """The fault plan: change ``.rate``, ``.per_route[name]``, ``.kinds`` at any time."""
        return self.app.faults

    def transport(self) -> httpx.ASGITransport:
        """An httpx transport straight into the app: no sockets."""
        return _Transport(app=self.app.asgi)

    def access_token(self) -> str:
        """A valid access token (as if the user had signed in)."""
        return str(self.app.issue_token()["access_token"])

    def client(self, **kwargs: Any) -> LegrandClient:
        """A LegrandClient wired to the simulator with a valid key and token; ``kwargs`` go on.

        Without ``rate_limit=`` the client has no local limiter, so the simulated gateway's 429s
        and 403s are what the client meets.
        """
        if "auth" not in kwargs and "access_token" not in kwargs:
            kwargs["access_token"] = self.access_token()
        kwargs.setdefault("base_url", self.base_url)
        # The simulated gateway does the limiting; pass rate_limit= to add the local limiter.
        kwargs.setdefault("rate_limit", None)
        if "http_client" not in kwargs:
            kwargs.setdefault("transport", self.transport())
        return LegrandClient(subscription_key=self.subscription_key, **kwargs)

    def oauth_app(self, **kwargs: Any) -> OAuthApp:
        """The registered application, talking to the simulator's OAuth server."""
        kwargs.setdefault("auth_url", self.base_url)
        kwargs.setdefault("transport", self.transport())
        kwargs.setdefault("clock", self.clock)
        return OAuthApp(self.client_id, self.client_secret, self.redirect_uri, **kwargs)

    async def sign_in(self, app: OAuthApp | None = None) -> Token:
        """The whole authorization-code flow: authorize (auto-consent), then exchange the code."""
        app = app if app is not None else self.oauth_app()
        url, state = app.authorization_url()
        async with httpx.AsyncClient(transport=self.transport()) as http:
            response = await http.get(url)
        if response.status_code != 302:
            raise RuntimeError(f"authorize answered {response.status_code}")
        return await app.exchange_code(response.headers["location"], expected_state=state)

    def expire_client_secret(self, expired: bool = True) -> None:
        """Make the token endpoint answer AADB2C90085, as for a year-old secret."""
        self.app.client_secret_expired = expired

    @property
    def calls_today(self) -> int:
        """Calls the gateway let through today (what the daily quota counts)."""
        return self.app.calls_today

    def device(self, plant_id: str, module_id: str) -> Device:
        """The thermostat ``module_id`` of the plant, to change as its user would at the device
        (``.set(mode=, setpoint=, program=, function=, until=, temperature=)``); KeyError for
        an unknown one. Each change is notified to the plant's C2C subscribers."""
        return Device(self.app.smarther, str(plant_id), str(module_id))

    @property
    def pushes(self) -> PushControls:
        """How C2C push behaves: ``.latency`` (seconds), ``.drop_rate`` (0..1, seeded),
        ``.outage(start, end)`` (deliveries due in it are lost). Change them at any time."""
        return self.app.c2c.controls

    async def push(self, plant_id: str, body: Any) -> list[tuple[str, int | str]]:
        """Deliver ``body`` to every URL subscribed to the plant, as Legrand's notification
        service would: any Event Grid delivery (a validation handshake, a
        ``Microsoft.EventGrid.SubscriptionDeletedEvent``, a Home + Control event...), JSON or
        bytes as they are. Waits for the answers; the (url, status or error) of each.
        """
        return await self.app.c2c.push(plant_id, body)

    async def delivered(self) -> list[tuple[str, int | str]]:
        """Wait for pending C2C deliveries; every (url, status or error) so far."""
        return await self.app.c2c.drain()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Simulator]:
        """Run the delivery service: C2C notifications are delivered in the background, as
        they are due, until the block ends (without it they wait for :meth:`delivered`).
        Deliveries still pending at the end are dropped: ``await sim.delivered()`` first."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.app.c2c.run)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    @asynccontextmanager
    async def serve(self, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[str]:
        """Serve the app on a loopback port (uvicorn), with the delivery service running;
        yields its base URL."""
        import socket

        import uvicorn

        # Bind here: a taken port is an OSError for the caller, not uvicorn's sys.exit(3).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
        config = uvicorn.Config(self.app.asgi, log_level="critical", lifespan="off")
        server = uvicorn.Server(config)
        stopped = anyio.Event()

        async def serving() -> None:
            try:
                await server.serve(sockets=[sock])
            finally:
                stopped.set()

        try:
            async with self.running(), anyio.create_task_group() as group:
                group.start_soon(serving)
                for _ in range(500):
                    if server.started or stopped.is_set():
                        break
                    await anyio.sleep(0.01)
                if not server.started:
                    raise RuntimeError("the simulator's server did not start")
                bound = sock.getsockname()[1]
                try:
                    yield f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
                finally:
                    server.should_exit = True
        finally:
            sock.close()
