"""The route table: every operation of the Legrand developer cloud the library speaks.

The single source of truth. ``scripts/generate_endpoints.py`` turns it into the typed endpoint
classes in ``legrand_async/_endpoints/``; the client core executes a route at run time.
Adding an endpoint means adding one entry here (and its models), then ``nox -s generate``.
"""

from __future__ import annotations

from ._routing import Family, PathParam, Route
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
    "smarther": Family(
        attribute="smarther",
        class_name="SmartherAPI",
        models="legrand_async.models.smarther",
        doc="Smarther v2.0 (BTicino X8000 chronothermostat), ``/smarther/v2.0``.",
    ),
}

_SM = "/smarther/v2.0"
_CHRONO = (
    _SM + "/chronothermostat/thermoregulation/addressLocation/plants/{plant_id}"
    "/modules/parameter/id/value/{module_id}"
)
_PLANT = PathParam("plant_id")
_MODULE = PathParam("module_id")

ROUTES: tuple[Route, ...] = (
    Route(
        family="smarther",
        name="list_plants",
        method="GET",
        path=_SM + "/plants",
        summary="The plants the user gave access to (an empty list when there are none).",
        idempotent=True,
        response=list[Plant],
        unwrap=("plants",),
        empty=list,
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
        response=Topology,
        unwrap=("plant",),
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
        response=ChronothermostatStatus,
        unwrap=("chronothermostats", 0),
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
        response=Measures,
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
        response=list[Program],
        unwrap=("chronothermostats", 0, "programs"),
        scopes=("comfort.read",),
    ),
    Route(
        family="smarther",
        name="list_subscriptions",
        method="GET",
        path=_SM + "/subscription",
        summary="The user's C2C webhook subscriptions (an empty list when there are none).",
        idempotent=True,
        response=list[Subscription],
        empty=list,
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
        response=str,
        unwrap=("subscriptionId",),
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
)


_BY_NAME = {(r.family, r.name): r for r in ROUTES}


def route(family: str, name: str) -> Route:
    """The route called ``name`` in ``family``."""
    return _BY_NAME[family, name]
