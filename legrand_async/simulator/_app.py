"""The simulator's ASGI app: the OAuth server, then every data route behind the gateway.

Data routes are registered from the library's own route table: ``route`` is served by its
family's handler table, method ``route.name``, so every route the client can call exists here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from .._clock import Clock
from .._routes import ROUTES
from ..models.home_control import KIND_PATHS
from ._deliveries import Deliveries
from ._faults import Faults
from ._fleet import Fleet
from ._gateway import Gateway
from ._oauth import ACCESS_LIFETIME, OAuthServer
from ._wire import Handler, error
from .door_entry import DoorEntry
from .home_control import HomeControl
from .multisocket import Multisocket
from .smarther import Smarther

__all__ = ["SimulatorApp"]


def _accepts(check: Callable[[str, object], str], value: object) -> bool:
    try:
        check("kind", value)
    except ValueError:
        return False
    return True


class SimulatorApp:
    """State and behaviour of the simulated cloud; ``.asgi`` is the Starlette app."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        clock: Clock,
        subscription_key: str,
        client_id: str,
        client_secret: str,
        faults: Faults,
        per_second: int | None,
        per_day: int | None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        access_lifetime: timedelta = ACCESS_LIFETIME,
    ) -> None:
        self.fleet = fleet
        self.oauth = OAuthServer(
            clock=clock,
            client_id=client_id,
            client_secret=client_secret,
            access_lifetime=access_lifetime,
        )
        self.gateway = Gateway(
            clock=clock,
            oauth=self.oauth,
            subscription_key=subscription_key,
            faults=faults,
            per_second=per_second,
            per_day=per_day,
        )
        self.c2c = Deliveries(fleet, webhook_transport)
        self.smarther = Smarther(fleet, clock, client_id, self.c2c)
        self.tables: dict[str, dict[str, Handler]] = {
            "smarther": self.smarther.handlers(),
            "home_control": HomeControl(fleet).handlers(),
            "multisocket": Multisocket(fleet).handlers(),
            "door_entry": DoorEntry(fleet, clock).handlers(),
        }
        routes = [
            StarletteRoute("/authorize", self.oauth.authorize, methods=["GET"]),
            StarletteRoute("/token", self.oauth.token, methods=["POST"]),
            *self._data_routes(),
        ]
        self.asgi = Starlette(routes=routes, exception_handlers={HTTPException: self._not_found})

    # The state tests and ``Simulator`` read (and set) on the app.

    @property
    def faults(self) -> Faults:
        return self.gateway.faults

    @property
    def per_second(self) -> int | None:
        return self.gateway.per_second

    @property
    def calls_today(self) -> int:
        return self.gateway.calls_today

    @property
    def access(self) -> dict[str, datetime]:
        return self.oauth.access

    @property
    def refresh(self) -> set[str]:
        return self.oauth.refresh

    @property
    def client_secret_expired(self) -> bool:
        return self.oauth.client_secret_expired

    @client_secret_expired.setter
    def client_secret_expired(self, expired: bool) -> None:
        self.oauth.client_secret_expired = expired

    @property
    def deliveries(self) -> list[tuple[str, int | str]]:
        return self.c2c.done

    @property
    def pending(self) -> set[Any]:
        return self.c2c.pending

    def issue_token(self) -> dict[str, Any]:
        """A fresh access and refresh token pair, as the token endpoint answers it."""
        return self.oauth.issue_token()

    def push(self, plant_id: str, body: Any) -> list[asyncio.Task[tuple[str, int | str]]]:
        """POST ``body`` (JSON, or bytes as they are) to every URL subscribed to the plant."""
        return self.c2c.push(plant_id, body)

    def _data_routes(self) -> list[StarletteRoute]:
        routes = []
        registered = set()
        gate = self.gateway.handle
        for route in ROUTES:
            if (route.method, route.path) in registered:
                continue  # stop_automation: served (and told apart) with set_automation_level
            registered.add((route.method, route.path))
            handler = self.tables[route.family][route.name]
            path = route.path.replace("{value}", "{value:path}")
            variants = [(path, handler)]
            if "{kind}" in path:  # one route per kind the route's own check accepts
                check = next(p.check for p in route.params if p.name == "kind")
                variants = [
                    (path.replace("{kind}", segment), partial(handler, kind=kind))
                    for kind, segment in KIND_PATHS.items()
                    if _accepts(check, kind)
                ]
            for variant, endpoint in variants:
                gated = partial(gate, family=route.family, name=route.name, handler=endpoint)
                routes.append(StarletteRoute(variant, gated, methods=[route.method]))
        return routes

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return error(status, "Resource not found")
