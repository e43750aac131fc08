"""The simulator's ASGI app: OAuth server, API Management gateway, faults and every data route.

Data routes are registered from the library's own route table, so every route the client can
call exists here; the handlers answer in the wire format real servers use (UPPERCASE enums,
decimal-string setpoints, both error formats).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as StarletteRoute

from .._clock import Clock
from .._routes import ROUTES
from .._transport.borrowed import Borrowed
from ..models.home_control import KIND_PATHS, ModuleKind
from ._faults import Faults
from ._fleet import Fleet, HCModule, SimPlantState, Socket, Thermostat
from ._gateway import Gateway
from ._oauth import ACCESS_LIFETIME, OAuthServer
from ._wire import Handler, error, hc_error, json_object

__all__ = ["SimulatorApp"]

_FUNCTIONS = ("HEATING", "COOLING")
_MODES = ("AUTOMATIC", "MANUAL", "BOOST", "OFF", "PROTECTION")


def _accepts(check: Callable[[str, object], str], value: object) -> bool:
    try:
        check("kind", value)
    except ValueError:
        return False
    return True


def _wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        self.clock = clock
        self.client_id = client_id
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
        self.webhook_transport = webhook_transport
        self.deliveries: list[tuple[str, int | str]] = []  # (url, status or error)
        self.pending: set[Any] = set()
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

    def issue_token(self) -> dict[str, Any]:
        """A fresh access and refresh token pair, as the token endpoint answers it."""
        return self.oauth.issue_token()

    def _data_routes(self) -> list[StarletteRoute]:
        routes = []
        registered = set()
        gate = self.gateway.handle
        for route in ROUTES:
            if (route.method, route.path) in registered:
                continue  # stop_automation: served (and told apart) with set_automation_level
            registered.add((route.method, route.path))
            handler: Handler = getattr(self, f"{route.family}_{route.name}")
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

    # --------------------------------------------------------------------------- Smarther

    def _chrono(self, request: Request) -> Thermostat | None:
        params = request.path_params
        thermostat = self.fleet.thermostat(params["plant_id"], params["module_id"])
        if thermostat is not None and thermostat.settle(self.clock.now()):
            self.notify(thermostat)  # the timed mode ended: that is a change too
        return thermostat

    def status_payload(self, t: Thermostat, *, notification: bool = False) -> dict[str, Any]:
        now = self.clock.now()
        number: int | str = str(t.program) if notification else t.program
        status: dict[str, Any] = {
            "function": t.function,
            "mode": t.mode,
            "setPoint": {"value": f"{t.effective_setpoint():.5f}", "unit": "C"},
            "programs": [{"number": number}],
            "temperatureFormat": "C",
            "loadState": "ACTIVE" if t.load_active(now) else "INACTIVE",
            "time": now.isoformat(timespec="seconds"),
            "thermometer": {"measures": [self._measure(now, t.temperature(now), "C")]},
            "hygrometer": {"measures": [self._measure(now, t.humidity(now), "%")]},
            "sender": {
                "addressType": "AddressLocation" if notification else "addressLocation",
                "system": "thermoregulation",
                "plant": {"id": t.plant_id, "module": {"id": t.id}},
            },
        }
        if t.until is not None:
            status["activationTime"] = _wire_time(t.until)
        if notification:
            status["online"] = True
            status["receiver"] = {"oid": [self.client_id]}
        return status

    @staticmethod
    def _measure(now: datetime, value: float, unit: str) -> dict[str, str]:
        return {"timeStamp": now.isoformat(timespec="seconds"), "value": f"{value}", "unit": unit}

    async def smarther_list_plants(self, request: Request) -> Response:
        if not self.fleet.plants:
            return Response(status_code=204)
        return JSONResponse({"plants": [{"id": p.id, "name": p.name} for p in self.fleet.plants]})

    async def smarther_get_topology(self, request: Request) -> Response:
        plant = self.fleet.by_id.get(request.path_params["plant_id"])
        if plant is None:
            return error(404, "Resource not found")
        modules = [
            {"device": "chronothermostat", "id": t.id, "name": t.name} for t in plant.thermostats
        ]
        body = {
            "plant": {"id": request.path_params["plant_id"], "name": plant.name, "modules": modules}
        }
        return JSONResponse(body)

    async def smarther_get_status(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        return JSONResponse({"chronothermostats": [self.status_payload(t)]})

    async def smarther_set_status(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        body = await json_object(request)
        if body is None or "function" not in body or "mode" not in body:
            return error(400, "Bad request")
        function, mode = str(body["function"]).upper(), str(body["mode"]).upper()
        if function not in _FUNCTIONS or mode not in _MODES:
            return error(400, "Bad request")
        try:
            change = self._new_state(t, mode, body)
        except (ValueError, KeyError, TypeError, IndexError):
            return error(430, "Wrong input parameters")
        previous = (t.function, t.mode, t.setpoint, t.program) if t.until is None else t.previous
        t.function, t.mode = function, mode
        t.setpoint, t.program, t.until = change
        t.previous = previous if t.until is not None else None
        self.notify(t)
        return Response(status_code=200)

    def _new_state(
        self, t: Thermostat, mode: str, body: dict[str, Any]
    ) -> tuple[float, int, datetime | None]:
        setpoint, program, until = t.setpoint, t.program, None
        when = str(body.get("activationTime") or "")
        if mode == "MANUAL":
            setpoint = float(body["setPoint"]["value"])
            if not 3 <= setpoint <= 40:
                raise ValueError("setpoint")
        if mode == "AUTOMATIC":
            program = int(body["programs"][0]["number"])
            if not 0 <= program <= 11:
                raise ValueError("program")
        if mode == "BOOST":
            start, _, end = when.partition("/")
            minutes = (_parse_time(end) - _parse_time(start)).total_seconds() / 60
            if round(minutes) not in (30, 60, 90):
                raise ValueError("boost")
            until = self.clock.now() + timedelta(minutes=round(minutes))
        elif when:
            until = _parse_time(when.rpartition("/")[2])
        return setpoint, program, until

    async def smarther_get_measures(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        status = self.status_payload(t)
        return JSONResponse({k: status[k] for k in ("thermometer", "hygrometer", "sender")})

    async def smarther_get_programs(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        programs = [{"number": n, "name": name} for n, name in t.programs]
        return JSONResponse({"chronothermostats": [{"programs": programs}]})

    async def smarther_list_subscriptions(self, request: Request) -> Response:
        items = [
            {"plantId": plant.id, "subscriptionId": sid, "EndPointUrl": url}
            for plant in self.fleet.plants
            for sid, url in plant.state.subscriptions.items()
        ]
        return JSONResponse(items) if items else Response(status_code=204)

    async def smarther_subscribe(self, request: Request) -> Response:
        plant = self.fleet.by_id.get(request.path_params["plant_id"])
        if plant is None:
            return error(404, "Resource not found")
        url = str((await json_object(request) or {}).get("EndPointUrl", ""))
        if not url.startswith("https://"):
            return error(400, "Bad request")
        if url in plant.subscriptions.values():
            return error(409, "Subscription already exists")
        sid = str(uuid.uuid4())
        plant.subscriptions[sid] = url
        return JSONResponse({"subscriptionId": sid}, status_code=201)

    async def smarther_unsubscribe(self, request: Request) -> Response:
        plant = self.fleet.by_id.get(request.path_params["plant_id"])
        sid = request.path_params["subscription_id"]
        if plant is None or plant.subscriptions.pop(sid, None) is None:
            return error(404, "Resource not found")
        return Response(status_code=200)

    # ------------------------------------------------------------------------------- C2C

    def notify(self, t: Thermostat) -> None:
        """POST the Event-Grid-style notification to every URL subscribed to the plant."""
        if not self.fleet.by_id[t.plant_id].subscriptions:
            return
        now = self.clock.now()
        event = [
            {
                "id": str(uuid.uuid4()),
                "eventType": "DeviceToCloud",
                "subject": f"///bs_cloud_{t.plant_id}//",
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "data": {"chronothermostats": [self.status_payload(t, notification=True)]},
                "subjectElements": {"plantId": f"bs_cloud_{t.plant_id}"},
            }
        ]
        self.push(t.plant_id, event)

    def push(self, plant_id: str, body: Any) -> list[asyncio.Task[tuple[str, int | str]]]:
        """POST ``body`` (JSON, or bytes as they are) to every URL subscribed to the plant."""
        tasks = []
        for url in list(self.fleet.by_id[plant_id].subscriptions.values()):
            task = asyncio.get_running_loop().create_task(self._deliver(url, body))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            tasks.append(task)
        return tasks

    async def _deliver(self, url: str, body: Any) -> tuple[str, int | str]:
        target = httpx.URL(url)
        if target.host in ("127.0.0.1", "localhost", "::1"):
            target = target.copy_with(scheme="http")  # loopback receivers in tests have no TLS
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        outcome: tuple[str, int | str]
        try:
            wire = Borrowed(self.webhook_transport) if self.webhook_transport else None
            async with httpx.AsyncClient(transport=wire, timeout=5) as http:
                response = await http.post(target, content=content, headers=headers)
            outcome = (url, response.status_code)
        except httpx.HTTPError as exc:
            outcome = (url, type(exc).__name__)
        self.deliveries.append(outcome)
        return outcome

    # ------------------------------------------------------------------------ Home + Control

    def _hc_plant(self, request: Request) -> SimPlantState | None:
        return self.fleet.by_hc_id.get(request.path_params["plant_id"])

    def _hc_module(self, request: Request, kind: ModuleKind) -> HCModule | None:
        plant = self._hc_plant(request)
        if plant is None:
            return None
        module_id = request.path_params["module_id"]
        for module in plant.all_hc_modules():
            if module.id == module_id and module.kind == kind.value:
                return module
        return None

    @staticmethod
    def _hc_status(module: HCModule) -> dict[str, Any]:
        status: dict[str, Any] = {
            "reachable": module.reachable,
            "fw": 42,
            "sender": {"plant": {"module": {"id": module.id}}},
        }
        if module.kind in ("plug", "light"):
            status["status"] = "on" if module.on else "off"
            status["consumptions"] = [
                {
                    "unit": "watt",
                    "value": module.power if module.on else 0,
                    "timestamp": "2020-11-22T11:14:14+00:00",
                }
            ]
        if module.kind == "light":
            status["level"] = module.level
        if module.kind == "automation":
            status["level"], status["step"] = module.level, 100
        if module.kind == "remote":
            status["battery"] = "full"
        return status

    async def home_control_list_plants(self, request: Request) -> Response:
        plants = [{"id": p.hc_id, "name": p.name, "country": "IT"} for p in self.fleet.plants]
        return JSONResponse({"plants": plants})

    async def home_control_get_topology(self, request: Request) -> Response:
        plant = self._hc_plant(request)
        if plant is None:
            return hc_error(404, "Not found")

        def module(m: HCModule) -> dict[str, str]:
            return {"id": m.id, "name": m.name, "hw_type": m.hw_type, "device": m.kind}

        ambients = [
            {"id": a_id, "name": name, "type": kind, "modules": [module(m) for m in modules]}
            for a_id, name, kind, modules in plant.ambients
        ]
        body = {
            "plant": {
                "id": plant.hc_id,
                "ambients": ambients,
                "modules": [module(m) for m in plant.hc_modules],
            }
        }
        return JSONResponse(body)

    async def home_control_get_plant_status(self, request: Request) -> Response:
        plant = self._hc_plant(request)
        if plant is None:
            return hc_error(404, "Not found")
        groups: dict[str, list[dict[str, Any]]] = {
            g: [] for g in ("lights", "plugs", "automations", "energymeters", "remotes", "heaters")
        }
        for m in plant.all_hc_modules():
            groups[m.kind + "s"].append(self._hc_status(m))
        return JSONResponse({"modules": groups})

    async def home_control_get_module_status(self, request: Request, kind: ModuleKind) -> Response:
        module = self._hc_module(request, kind)
        if module is None:
            return hc_error(404, "Not found")
        return JSONResponse({kind.value + "s": [self._hc_status(module)]})

    async def _hc_switch(self, request: Request, modules: list[HCModule]) -> Response:
        status = (await json_object(request) or {}).get("status")
        if status not in ("on", "off"):
            return hc_error(400, "Invalid arguments")
        for module in modules:
            module.on = status == "on"
            module.power = 60 if module.on else 0
        return PlainTextResponse("Status changed successfully")

    async def home_control_set_module_status(self, request: Request, kind: ModuleKind) -> Response:
        module = self._hc_module(request, kind)
        if module is None:
            return hc_error(404, "Not found")
        return await self._hc_switch(request, [module])

    async def home_control_set_ambient_plugs(self, request: Request) -> Response:
        plant = self._hc_plant(request)
        ambient_id = request.path_params["ambient_id"]
        ambient = next((a for a in plant.ambients if a[0] == ambient_id), None) if plant else None
        if ambient is None:
            return hc_error(404, "Not found")
        return await self._hc_switch(request, [m for m in ambient[3] if m.kind == "plug"])

    async def home_control_set_automation_level(self, request: Request) -> Response:
        module = self._hc_module(request, ModuleKind.AUTOMATION)
        if module is None:
            return hc_error(404, "Not found")
        body = await json_object(request)
        if body is None or "level" not in body:
            return hc_error(400, "Invalid arguments")
        level = body["level"]
        if not isinstance(level, int) or not -1 <= level <= 100:
            return hc_error(406, "Request not acceptable")
        if level >= 0:
            module.level = level
        return PlainTextResponse("OK")

    async def home_control_list_scenes(self, request: Request) -> Response:
        plant = self._hc_plant(request)
        if plant is None:
            return hc_error(404, "Not found")
        scenes = [
            {"name": name, "sender": {"plant": {"module": {"id": sid}}}}
            for sid, name in plant.scenes
        ]
        return JSONResponse({"scenes": scenes})

    async def home_control_run_scene(self, request: Request) -> Response:
        plant = self._hc_plant(request)
        if plant is None or request.path_params["scene_id"] not in dict(plant.scenes):
            return hc_error(404, "Not found")
        for module in plant.all_hc_modules():  # every scene switches the lights off
            if module.kind == "light":
                module.on = False
        return PlainTextResponse("OK")

    # ------------------------------------------------------------------------- Multisocket

    def _sockets(self, request: Request) -> list[Socket] | Response:
        """The sockets the path addresses, or the 404 when there are none."""
        plant = self.fleet.by_id.get(request.path_params["plant_id"])
        if plant is None:
            return PlainTextResponse("The plant identified by 'plantId' does not exist.", 404)
        by, value = request.path_params["by"], request.path_params["value"]
        sockets = [s for s in plant.sockets if getattr(s, by, None) == value]
        return sockets or PlainTextResponse("No Plug were found.", 404)

    async def multisocket_get_plugs(self, request: Request) -> Response:
        sockets = self._sockets(request)
        if isinstance(sockets, Response):
            return sockets
        plugs = [{"id": s.id, "name": s.name, "status": s.status} for s in sockets]
        return JSONResponse({"plugs": plugs})

    async def multisocket_set_plugs(self, request: Request) -> Response:
        sockets = self._sockets(request)
        if isinstance(sockets, Response):
            return sockets
        body = await json_object(request)
        if body is None or "status" not in body:
            return PlainTextResponse("A parameter is missing", 400)
        status = body["status"]
        if not isinstance(status, list) or not all(isinstance(v, bool) for v in status):
            return PlainTextResponse("One of the specified parameter should be an array", 400)
        for socket in sockets:
            socket.status = [status[i % len(status)] for i in range(len(socket.status))]
        return Response(status_code=200)

    # -------------------------------------------------------------------------- door entry

    async def door_entry_call_home(self, request: Request) -> Response:
        plant_id = request.path_params["plant_id"]
        plant = self.fleet.by_id.get(plant_id)
        if plant is None or request.path_params["device_id"] not in plant.door_units:
            return error(404, "Resource not found")
        exp = int((self.clock.now() + timedelta(minutes=5)).timestamp())
        header, payload = (
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none", "typ": "JWT"}, {"sub": plant_id, "exp": exp})
        )
        unit = {
            "ticket": f"{header}.{payload}.sim",
            "sender": {
                "addressType": "addressLocation",
                "system": "videodoorentry",
                "plant": {"id": plant_id},
            },
        }
        return JSONResponse({"audiovideounits": [unit]})
