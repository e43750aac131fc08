"""The simulated cloud assembled: the OAuth server's app, and the data API behind the gateway.

The data API is built from the library's own route table: each route is served by the handler
its family's table (``simulator/<family>.py``) keeps under the route's name, so every route the
client can call exists here. The gateway (``_gateway.py``) is ASGI middleware in front of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from .._clock import Clock
from .._converters import unstructure
from .._routes import ROUTES
from .._routing import Route
from ..models.home_control import KIND_PATHS
from ._deliveries import Deliveries, PushControls
from ._faults import Faults
from ._fleet import Fleet
from ._gateway import Gateway, Picker
from ._oauth import ACCESS_LIFETIME, OAuthServer
from ._wire import Handler, not_found
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


def _fixed_body(route: Route) -> Any:
    """The one body a route sends whatever its arguments (``stop_automation``), else None."""
    if route.body is None:
        return None
    try:
        return unstructure(route.body())
    except TypeError:  # the body takes arguments
        return None


def _picker(routes: list[Route]) -> Picker:
    """Which of the routes sharing a method and path a request is for: the one whose fixed
    body it sent (``stop_automation``'s ``{"level": -1}``), else the other one."""
    fixed = [(r, body) for r in routes if len(routes) > 1 and (body := _fixed_body(r)) is not None]
    default = next((r for r in routes if all(r is not f for f, _ in fixed)), routes[0])

    def pick(body: bytes) -> Route:
        if fixed:
            try:
                sent = json.loads(body)
            except ValueError:
                sent = None
            for route, wire in fixed:
                if sent == wire:
                    return route
        return default

    return pick


async def _respond(request: Request, *, pick: Picker, handlers: dict[str, Handler]) -> Response:
    return await handlers[pick(await request.body()).name](request)


def _api(
    tables: dict[str, dict[str, Handler]],
) -> tuple[list[BaseRoute], list[tuple[BaseRoute, Picker]]]:
    """The Starlette routes of the data API, and beside each the picker the gateway uses."""
    groups: dict[tuple[str, str], list[Route]] = {}
    for route in ROUTES:  # set_automation_level and stop_automation share a method and path
        groups.setdefault((route.method, route.path), []).append(route)
    served: list[BaseRoute] = []
    operations: list[tuple[BaseRoute, Picker]] = []
    for (method, path), routes in groups.items():
        pick = _picker(routes)
        handlers = {route.name: tables[route.family][route.name] for route in routes}
        path = path.replace("{value}", "{value:path}")
        variants = [(path, handlers)]
        if "{kind}" in path:  # one route per kind the route's own check accepts
            check = next(p.check for p in routes[0].params if p.name == "kind")
            variants = [
                (
                    path.replace("{kind}", segment),
                    {name: partial(h, kind=kind) for name, h in handlers.items()},
                )
                for kind, segment in KIND_PATHS.items()
                if _accepts(check, kind)
            ]
        for variant, endpoints in variants:
            endpoint = partial(_respond, pick=pick, handlers=endpoints)
            starlette_route = StarletteRoute(variant, endpoint, methods=[method])
            served.append(starlette_route)
            operations.append((starlette_route, pick))
    return served, operations


def _without_final_slash(scope: Scope) -> Scope:
    """``/plants/`` served as ``/plants`` (a ``%2F`` ending a path parameter is kept)."""
    path: str = scope["path"]
    raw = scope.get("raw_path")
    raw_path = raw.partition(b"?")[0] if isinstance(raw, bytes) else path.encode()
    if len(path) < 2 or not path.endswith("/") or not raw_path.endswith(b"/"):
        return scope
    scope = {**scope, "path": path[:-1]}
    if isinstance(raw, bytes):
        scope["raw_path"] = raw_path[:-1] + raw[len(raw_path) :]
    return scope


class _Cloud:
    """The whole simulated cloud: the OAuth server's paths to its app, the rest to the API."""

    def __init__(self, oauth: OAuthServer, api: ASGIApp) -> None:
        self.oauth, self.api = oauth, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = _without_final_slash(scope)
            if scope["path"] in self.oauth.paths:
                await self.oauth.asgi(scope, receive, send)
                return
        await self.api(scope, receive, send)


class SimulatorApp:
    """State and behaviour of the simulated cloud; ``.asgi`` is the ASGI app."""

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
        pushes: PushControls | None = None,
        reuse_refresh_tokens: bool = False,
        device_zone: tzinfo = UTC,
        hc_form_bodies: bool = False,
    ) -> None:
        self.fleet = fleet
        self.oauth = OAuthServer(
            clock=clock,
            client_id=client_id,
            client_secret=client_secret,
            access_lifetime=access_lifetime,
            reuse_refresh_tokens=reuse_refresh_tokens,
        )
        self.c2c = Deliveries(fleet, clock, webhook_transport, pushes)
        self.smarther = Smarther(fleet, clock, client_id, self.c2c, zone=device_zone)
        self.tables: dict[str, dict[str, Handler]] = {
            "smarther": self.smarther.handlers(),
            "home_control": HomeControl(fleet, form_bodies=hc_form_bodies).handlers(),
            "multisocket": Multisocket(fleet).handlers(),
            "door_entry": DoorEntry(fleet, clock).handlers(),
        }
        routes, operations = _api(self.tables)
        api = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
        self.gateway = Gateway(
            api,
            operations=operations,
            clock=clock,
            bearer_valid=self.oauth.bearer_valid,
            subscription_key=subscription_key,
            faults=faults,
            per_second=per_second,
            per_day=per_day,
        )
        self.asgi: ASGIApp = _Cloud(self.oauth, self.gateway)

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

    def issue_token(self) -> dict[str, Any]:
        """A fresh access and refresh token pair, as the token endpoint answers it."""
        return self.oauth.issue_token()
