"""Home + Control (legacy): plants, topology, module status, switching, shutters, scenes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .._converters import unstructure
from ..models.home_control import ModuleKind, Switch
from ._fleet import Fleet, HCModule, SimPlantState
from ._wire import Handler, hc_error, json_object

__all__ = ["HomeControl"]

_GROUPS = tuple(kind.value + "s" for kind in ModuleKind if kind is not ModuleKind.UNKNOWN)
_ON, _OFF = (unstructure(Switch(on))["status"] for on in (True, False))
_PLUG, _LIGHT = ModuleKind.PLUG.value, ModuleKind.LIGHT.value
_FORM = "application/x-www-form-urlencoded"


def _status(module: HCModule) -> dict[str, Any]:
    status: dict[str, Any] = {
        "reachable": module.reachable,
        "fw": 42,
        "sender": {"plant": {"module": {"id": module.id}}},
    }
    if module.kind in (_PLUG, _LIGHT):
        status["status"] = _ON if module.on else _OFF
        status["consumptions"] = [
            {
                "unit": "watt",
                "value": module.power if module.on else 0,
                "timestamp": "2020-11-22T11:14:14+00:00",
            }
        ]
    if module.kind == _LIGHT:
        status["level"] = module.level
    if module.kind == ModuleKind.AUTOMATION.value:
        status["level"], status["step"] = module.level, 100
    if module.kind == ModuleKind.REMOTE.value:
        status["battery"] = "full"
    return status


async def _form_or_json(request: Request) -> dict[str, Any] | None:
    """A form-encoded body (``status=on``, ``level=40``: numbers as ints), else the JSON one."""
    if not request.headers.get("content-type", "").startswith(_FORM):
        return await json_object(request)
    fields = dict(parse_qsl((await request.body()).decode(errors="replace")))
    return {k: int(v) if v.lstrip("-").isdigit() else v for k, v in fields.items()}


async def _switch(body: dict[str, Any] | None, modules: list[HCModule]) -> Response:
    status = (body or {}).get("status")
    if status not in (_ON, _OFF):
        return hc_error(400, "Invalid arguments")
    for module in modules:
        module.on = status == _ON
        module.power = 60 if module.on else 0
    return PlainTextResponse("Status changed successfully")


class HomeControl:
    """The Home + Control routes; the module routes take the ``kind`` their path names."""

    def __init__(self, fleet: Fleet, *, form_bodies: bool = False) -> None:
        self.fleet = fleet
        #: Whether form-encoded bodies are taken as well as JSON ones (else: 400, as not JSON).
        self.form_bodies = form_bodies

    async def _body(self, request: Request) -> dict[str, Any] | None:
        return await (_form_or_json if self.form_bodies else json_object)(request)

    def handlers(self) -> dict[str, Handler]:
        """The handler of each route of the family, by route name."""
        return {
            "list_plants": self.list_plants,
            "get_topology": self.get_topology,
            "get_plant_status": self.get_plant_status,
            "get_module_status": self.get_module_status,
            "set_module_status": self.set_module_status,
            "set_ambient_plugs": self.set_ambient_plugs,
            "set_automation_level": self.set_automation_level,
            "stop_automation": self.set_automation_level,
            "list_scenes": self.list_scenes,
            "run_scene": self.run_scene,
        }

    def _plant(self, request: Request) -> SimPlantState | None:
        return self.fleet.by_hc_id.get(request.path_params["plant_id"])

    def _module(self, request: Request, kind: ModuleKind) -> HCModule | None:
        plant = self._plant(request)
        if plant is None:
            return None
        module_id = request.path_params["module_id"]
        for module in plant.all_hc_modules():
            if module.id == module_id and module.kind == kind.value:
                return module
        return None

    async def list_plants(self, request: Request) -> Response:
        plants = [{"id": p.hc_id, "name": p.name, "country": "IT"} for p in self.fleet.plants]
        return JSONResponse({"plants": plants})

    async def get_topology(self, request: Request) -> Response:
        plant = self._plant(request)
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

    async def get_plant_status(self, request: Request) -> Response:
        plant = self._plant(request)
        if plant is None:
            return hc_error(404, "Not found")
        groups: dict[str, list[dict[str, Any]]] = {group: [] for group in _GROUPS}
        for m in plant.all_hc_modules():
            groups[m.kind + "s"].append(_status(m))
        return JSONResponse({"modules": groups})

    async def get_module_status(self, request: Request, kind: ModuleKind) -> Response:
        module = self._module(request, kind)
        if module is None:
            return hc_error(404, "Not found")
        return JSONResponse({kind.value + "s": [_status(module)]})

    async def set_module_status(self, request: Request, kind: ModuleKind) -> Response:
        module = self._module(request, kind)
        if module is None:
            return hc_error(404, "Not found")
        return await _switch(await self._body(request), [module])

    async def set_ambient_plugs(self, request: Request) -> Response:
        plant = self._plant(request)
        ambient_id = request.path_params["ambient_id"]
        ambient = next((a for a in plant.ambients if a[0] == ambient_id), None) if plant else None
        if ambient is None:
            return hc_error(404, "Not found")
        return await _switch(await self._body(request), [m for m in ambient[3] if m.kind == _PLUG])

    async def set_automation_level(self, request: Request) -> Response:
        """Also ``stop_automation`` (level -1): the two routes share a method and path."""
        module = self._module(request, ModuleKind.AUTOMATION)
        if module is None:
            return hc_error(404, "Not found")
        body = await self._body(request)
        if body is None or "level" not in body:
            return hc_error(400, "Invalid arguments")
        level = body["level"]
        if not isinstance(level, int) or not -1 <= level <= 100:
            return hc_error(406, "Request not acceptable")
        if level >= 0:
            module.level = level
        return PlainTextResponse("OK")

    async def list_scenes(self, request: Request) -> Response:
        plant = self._plant(request)
        if plant is None:
            return hc_error(404, "Not found")
        scenes = [
            {"name": name, "sender": {"plant": {"module": {"id": sid}}}}
            for sid, name in plant.scenes
        ]
        return JSONResponse({"scenes": scenes})

    async def run_scene(self, request: Request) -> Response:
        plant = self._plant(request)
        if plant is None or request.path_params["scene_id"] not in dict(plant.scenes):
            return hc_error(404, "Not found")
        for module in plant.all_hc_modules():  # every scene switches the lights off
            if module.kind == _LIGHT:
                module.on = False
        return PlainTextResponse("OK")
