"""The route table: every operation of the Legrand developer cloud the library speaks.

The single source of truth. ``scripts/generate_endpoints.py`` turns it into the typed endpoint
classes in ``legrand_async/_endpoints/``; the client core executes a route at run time.
Adding an endpoint means adding one entry here (and its models), then ``nox -s generate``.
"""

from __future__ import annotations

from ._extract import Extract, FirstItem
from ._routing import Family, PathParam, Route, one_of, opaque_id
from .models.door_entry import CallHomeTicket
from .models.home_control import (
    KIND_PATHS,
    AutomationLevel,
    ModuleKind,
    ModuleStatuses,
    RunScene,
    Scene,
    StopAutomation,
    Switch,
)
from .models.home_control import Plant as HCPlant
from .models.home_control import Topology as HCTopology
from .models.multisocket import SocketPlug, SocketStatus
from .models.smarther import (
    ChronothermostatStatus,
    Measures,
    Plant,
    Program,
    SetStatus,
    Subscription,
    SubscriptionRequest,
    Topology,
)

__all__ = ["FAMILIES", "ROUTES", "route"]

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("smarther", "Smarther v2.0 (BTicino X8000 chronothermostat), ``/smarther/v2.0``."),
        Family(
            "home_control",
            "Home + Control (legacy: Legrand announced its retirement), ``/hc/api/v1.0``.",
        ),
        Family(
            "multisocket", "Multisocket: sockets addressed by id, name or type, ``/multioutlet``."
        ),
        Family(
            "door_entry",
            "Video door entry (Classe 100X16E, Easy Kit Connected), ``/vdeproducts/v1.0``.",
        ),
    )
}


def module_kind(name: str, value: object) -> str:
    """The API's path segment for a ModuleKind (``plug/energy``...)."""
    kind = ModuleKind(value) if isinstance(value, str) else None
    if kind not in KIND_PATHS:
        raise ValueError(f"{name} must be a ModuleKind other than UNKNOWN, got {value!r}")
    return KIND_PATHS[kind]


def switchable_kind(name: str, value: object) -> str:
    """Only plugs and lights are switched on and off."""
    if value not in (ModuleKind.PLUG, ModuleKind.LIGHT):
        raise ValueError(f"{name} must be ModuleKind.PLUG or ModuleKind.LIGHT, got {value!r}")
    return module_kind(name, value)

_SM = "/smarther/v2.0"
_CHRONO = (
    _SM + "/chronothermostat/thermoregulation/addressLocation/plants/{plant_id}"
    "/modules/parameter/id/value/{module_id}"
)
_PLANT = PathParam("plant_id")
_MODULE = PathParam("module_id")
_HC = "/hc/api/v1.0"
_HC_PLANT = PathParam("plant_id", opaque_id)
_HC_MODULE = PathParam("module_id", opaque_id)
_HC_MODULE_PATH = (
    _HC + "/{kind}/addressLocation/plants/{plant_id}/modules/parameter/id/value/{module_id}"
)
_HC_AUTOMATION = (
    _HC + "/automation/automation/addressLocation/plants/{plant_id}"
    "/modules/parameter/id/value/{module_id}"
)
_HC_SCENES = _HC + "/scene/comfort/addressLocation/plants/{plant_id}"
_SOCKETS = (
    "/multioutlet/plug/energy/addressLocation/plants/{plant_id}/parameter/{by}/value/{value}"
)
_SOCKET_PARAMS = (
    _PLANT,
    PathParam("by", one_of("id", "name", "type")),
    PathParam("value", opaque_id),
)

ROUTES: tuple[Route, ...] = (
    Route(
        family="smarther",
        name="list_plants",
        method="GET",
        path=_SM + "/plants",
        summary="The plants the user gave access to (an empty list when there are none).",
        idempotent=True,
        extract=Extract(list[Plant], at=("plants",), empty=list),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="get_topology",
        method="GET",
        path=_SM + "/plants/{plant_id}/topology",
        summary="A plant and its modules.",
        idempotent=True,
        params=(_PLANT,),
        extract=Extract(Topology, at=("plant",)),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="get_status",
        method="GET",
        path=_CHRONO,
        summary="The status of a chronothermostat, with its latest temperature and humidity.",
        idempotent=True,
        params=(_PLANT, _MODULE),
        extract=Extract(ChronothermostatStatus, at=("chronothermostats", 0)),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="set_status",
        method="POST",
        path=_CHRONO,
        summary="Set a chronothermostat's function and mode (build ``status`` with SetStatus).",
        idempotent=True,
        params=(_PLANT, _MODULE),
        body=SetStatus,
        body_arg="status",
        scopes=("comfort.write",),
    ),
    Route(
        family="smarther",
        name="get_measures",
        method="GET",
        path=_CHRONO + "/measures",
        summary="The temperature and humidity measures of a chronothermostat.",
        idempotent=True,
        params=(_PLANT, _MODULE),
        extract=Extract(Measures),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="get_programs",
        method="GET",
        path=_CHRONO + "/programlist",
        summary="The weekly programs of a chronothermostat.",
        idempotent=True,
        params=(_PLANT, _MODULE),
        extract=Extract(list[Program], at=("chronothermostats", 0, "programs")),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="list_subscriptions",
        method="GET",
        path=_SM + "/subscription",
        summary="The user's C2C webhook subscriptions (an empty list when there are none).",
        idempotent=True,
        extract=Extract(list[Subscription], empty=list),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="subscribe",
        method="POST",
        path=_SM + "/plants/{plant_id}/subscription",
        summary="Subscribe an https URL to a plant's C2C notifications; returns the new id.",
        idempotent=False,
        params=(_PLANT,),
        body=SubscriptionRequest,
        extract=Extract(str, at=("subscriptionId",)),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="unsubscribe",
        method="DELETE",
        path=_SM + "/plants/{plant_id}/subscription/{subscription_id}",
        summary="Delete a C2C subscription.",
        idempotent=True,
        params=(_PLANT, PathParam("subscription_id")),
        scopes=("comfort.read",),
    ),
    Route(
        family="home_control",
        name="list_plants",
        method="GET",
        path=_HC + "/plants",
        summary="The Home + Control plants (gateways) of the user.",
        idempotent=True,
        extract=Extract(list[HCPlant], at=("plants",), empty=list),
    ),
    Route(
        family="home_control",
        name="get_topology",
        method="GET",
        path=_HC + "/plants/{plant_id}/topology",
        summary="A plant's rooms (ambients) with their modules, and its plant-level modules.",
        idempotent=True,
        params=(_HC_PLANT,),
        extract=Extract(HCTopology, at=("plant",)),
    ),
    Route(
        family="home_control",
        name="get_plant_status",
        method="GET",
        path=_HC + "/plants/{plant_id}",
        summary="The status of every module of a plant, flat, each with its kind.",
        idempotent=True,
        params=(_HC_PLANT,),
        extract=Extract(ModuleStatuses, at=("modules",)),
    ),
    Route(
        family="home_control",
        name="get_module_status",
        method="GET",
        path=_HC_MODULE_PATH,
        summary="The status of one module of the given kind.",
        idempotent=True,
        params=(
            _HC_PLANT,
            PathParam("kind", module_kind, "ModuleKind", quoted=False),
            _HC_MODULE,
        ),
        extract=FirstItem(ModuleStatuses),
        scopes=("plug.read",),
    ),
    Route(
        family="home_control",
        name="set_module_status",
        method="POST",
        path=_HC_MODULE_PATH,
        summary="Switch a plug or a light on or off.",
        idempotent=True,
        params=(
            _HC_PLANT,
            PathParam("kind", switchable_kind, "ModuleKind", quoted=False),
            _HC_MODULE,
        ),
        body=Switch,
        scopes=("plug.write", "light.write"),
    ),
    Route(
        family="home_control",
        name="set_ambient_plugs",
        method="POST",
        path=_HC
        + "/plug/energy/addressLocation/plants/{plant_id}/ambients/parameter/id/value/{ambient_id}",
        summary="Switch every plug of one room (ambient) on or off.",
        idempotent=True,
        params=(_HC_PLANT, PathParam("ambient_id", opaque_id)),
        body=Switch,
        scopes=("plug.write",),
    ),
    Route(
        family="home_control",
        name="set_automation_level",
        method="POST",
        path=_HC_AUTOMATION,
        summary="Move a shutter (automation) to ``level`` percent, 0..100.",
        idempotent=True,
        params=(_HC_PLANT, _HC_MODULE),
        body=AutomationLevel,
    ),
    Route(
        family="home_control",
        name="stop_automation",
        method="POST",
        path=_HC_AUTOMATION,
        summary="Stop a moving shutter (sends level -1).",
        idempotent=True,
        params=(_HC_PLANT, _HC_MODULE),
        body=StopAutomation,
    ),
    Route(
        family="home_control",
        name="list_scenes",
        method="GET",
        path=_HC_SCENES,
        summary="The scenes of a plant.",
        idempotent=True,
        params=(_HC_PLANT,),
        extract=Extract(list[Scene], at=("scenes",), empty=list),
    ),
    Route(
        family="home_control",
        name="run_scene",
        method="POST",
        path=_HC_SCENES + "/modules/parameter/id/value/{scene_id}",
        summary="Run a scene.",
        idempotent=False,
        params=(_HC_PLANT, PathParam("scene_id", opaque_id)),
        body=RunScene,
    ),
    Route(
        family="multisocket",
        name="get_plugs",
        method="GET",
        path=_SOCKETS,
        summary='The sockets whose ``by`` ("id", "name" or "type") equals ``value``.',
        idempotent=True,
        params=_SOCKET_PARAMS,
        extract=Extract(list[SocketPlug], at=("plugs",), empty=list),
        scopes=("plug.read",),
    ),
    Route(
        family="multisocket",
        name="set_plugs",
        method="POST",
        path=_SOCKETS,
        summary="Switch the matching sockets (``status``: a bool, or one bool per outlet).",
        idempotent=True,
        params=_SOCKET_PARAMS,
        body=SocketStatus,
        scopes=("plug.write",),
    ),
    Route(
        family="door_entry",
        name="call_home",
        method="GET",
        path="/vdeproducts/v1.0/audiovideounit/videodoorentry/addressLocation/plants/{plant_id}"
        "/modules/parameter/id/value/{device_id}/callIn",
        summary="The JWT tickets the Door Entry SDK needs to call home.",
        idempotent=True,
        params=(_PLANT, PathParam("device_id")),
        extract=Extract(list[CallHomeTicket], at=("audiovideounits",)),
        scopes=("audiovideoterminal.read",),
    ),
)


_BY_NAME = {(r.family, r.name): r for r in ROUTES}


def route(family: str, name: str) -> Route:
    """The route called ``name`` in ``family``."""
    return _BY_NAME[family, name]
