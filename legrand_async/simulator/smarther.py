"""Smarther v2.0: plants, topology, status (timed modes that end), measures, programs, C2C."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._clock import Clock
from .._plants import CLOUD_PLANT_PREFIX
from ..models._smarther_requests import BOOST_MINUTES, PROGRAM_RANGE, SETPOINT_RANGE
from ..models.smarther import Function, LoadState, Mode
from ._deliveries import Deliveries
from ._fleet import AUTOMATIC, BOOST, MANUAL, Fleet, Thermostat, wire
from ._wire import Handler, error, json_object

__all__ = ["Smarther"]

_FUNCTIONS = tuple(wire(f) for f in Function if f is not Function.UNKNOWN)
_MODES = tuple(wire(m) for m in Mode if m is not Mode.UNKNOWN)
_ACTIVE, _INACTIVE = (state.value.upper() for state in (LoadState.ACTIVE, LoadState.INACTIVE))


def _wire_time(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_time(text: str, zone: tzinfo) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _measure(now: datetime, value: float, unit: str) -> dict[str, str]:
    return {"timeStamp": now.isoformat(timespec="seconds"), "value": f"{value}", "unit": unit}


class Smarther:
    """The Smarther routes; a change (a command, a timed mode's end) is pushed to subscribers."""

    def __init__(
        self,
        fleet: Fleet,
        clock: Clock,
        client_id: str,
        deliveries: Deliveries,
        zone: tzinfo = UTC,
    ) -> None:
        self.fleet = fleet
        #: The thermostats' zone: activation times without an offset are read (and written) in it.
        self.zone = zone
        self.clock = clock
        self.client_id = client_id
        self.deliveries = deliveries

    def handlers(self) -> dict[str, Handler]:
        """The handler of each route of the family, by route name."""
        return {
            "list_plants": self.list_plants,
            "get_topology": self.get_topology,
            "get_status": self.get_status,
            "set_status": self.set_status,
            "get_measures": self.get_measures,
            "get_programs": self.get_programs,
            "list_subscriptions": self.list_subscriptions,
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
        }

    def settled(self, plant_id: str, module_id: str) -> Thermostat | None:
        """The thermostat, its timed mode ended (and notified) if its time is up."""
        thermostat = self.fleet.thermostat(plant_id, module_id)
        if thermostat is not None and thermostat.settle(self.clock.now()):
            self.notify(thermostat)  # the timed mode ended: that is a change too
        return thermostat

    def _chrono(self, request: Request) -> Thermostat | None:
        return self.settled(request.path_params["plant_id"], request.path_params["module_id"])

    def status_payload(self, t: Thermostat, *, notification: bool = False) -> dict[str, Any]:
        now = self.clock.now()
        number: int | str = str(t.program) if notification else t.program
        status: dict[str, Any] = {
            "function": t.function,
            "mode": t.mode,
            "setPoint": {"value": f"{t.effective_setpoint():.5f}", "unit": "C"},
            "programs": [{"number": number}],
            "temperatureFormat": "C",
            "loadState": _ACTIVE if t.load_active(now) else _INACTIVE,
            "time": now.isoformat(timespec="seconds"),
            "thermometer": {"measures": [_measure(now, t.temperature(now), "C")]},
            "hygrometer": {"measures": [_measure(now, t.humidity(now), "%")]},
            "sender": {
                "addressType": "AddressLocation" if notification else "addressLocation",
                "system": "thermoregulation",
                "plant": {"id": t.plant_id, "module": {"id": t.id}},
            },
        }
        if t.until is not None:
            status["activationTime"] = _wire_time(t.until, self.zone)
        if notification:
            status["online"] = True
            status["receiver"] = {"oid": [self.client_id]}
        return status

    def notify(self, t: Thermostat) -> None:
        """POST the Event-Grid-style notification to every URL subscribed to the plant."""
        if not self.fleet.by_id[t.plant_id].subscriptions:
            return
        now = self.clock.now()
        event = [
            {
                "id": str(uuid.uuid4()),
                "eventType": "DeviceToCloud",
                "subject": f"///{CLOUD_PLANT_PREFIX}{t.plant_id}//",
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "data": {"chronothermostats": [self.status_payload(t, notification=True)]},
                "subjectElements": {"plantId": f"{CLOUD_PLANT_PREFIX}{t.plant_id}"},
            }
        ]
        self.deliveries.schedule(t.plant_id, event)

    async def list_plants(self, request: Request) -> Response:
        if not self.fleet.plants:
            return Response(status_code=204)
        return JSONResponse({"plants": [{"id": p.id, "name": p.name} for p in self.fleet.plants]})

    async def get_topology(self, request: Request) -> Response:
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

    async def get_status(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        return JSONResponse({"chronothermostats": [self.status_payload(t)]})

    async def set_status(self, request: Request) -> Response:
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
        t.command(function, mode, *change)
        self.notify(t)
        return Response(status_code=200)

    def _new_state(
        self, t: Thermostat, mode: str, body: dict[str, Any]
    ) -> tuple[float, int, datetime | None]:
        setpoint, program, until = t.setpoint, t.program, None
        when = str(body.get("activationTime") or "")
        if mode == MANUAL:
            setpoint = float(body["setPoint"]["value"])
            if not SETPOINT_RANGE[0] <= setpoint <= SETPOINT_RANGE[1]:
                raise ValueError("setpoint")
        if mode == AUTOMATIC:
            program = int(body["programs"][0]["number"])
            if not PROGRAM_RANGE[0] <= program <= PROGRAM_RANGE[1]:
                raise ValueError("program")
        if mode == BOOST:
            start, _, end = when.partition("/")
            minutes = (
                _parse_time(end, self.zone) - _parse_time(start, self.zone)
            ).total_seconds() / 60
            if round(minutes) not in BOOST_MINUTES:
                raise ValueError("boost")
            until = self.clock.now() + timedelta(minutes=round(minutes))
        elif when:
            until = _parse_time(when.rpartition("/")[2], self.zone)
        return setpoint, program, until

    async def get_measures(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        status = self.status_payload(t)
        return JSONResponse({k: status[k] for k in ("thermometer", "hygrometer", "sender")})

    async def get_programs(self, request: Request) -> Response:
        t = self._chrono(request)
        if t is None:
            return error(404, "Resource not found")
        programs = [{"number": n, "name": name} for n, name in t.programs]
        return JSONResponse({"chronothermostats": [{"programs": programs}]})

    async def list_subscriptions(self, request: Request) -> Response:
        items = [
            {"plantId": plant.id, "subscriptionId": sid, "EndPointUrl": url}
            for plant in self.fleet.plants
            for sid, url in plant.state.subscriptions.items()
        ]
        return JSONResponse(items) if items else Response(status_code=204)

    async def subscribe(self, request: Request) -> Response:
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

    async def unsubscribe(self, request: Request) -> Response:
        plant = self.fleet.by_id.get(request.path_params["plant_id"])
        sid = request.path_params["subscription_id"]
        if plant is None or plant.subscriptions.pop(sid, None) is None:
            return error(404, "Resource not found")
        return Response(status_code=200)
