"""Smarther v2.0 (BTicino X8000 chronothermostat) models.

Responses are frozen attrs classes named after the portal's objects; the converter
(``legrand_async._converters``) owns every wire name and format quirk. The classes live in
``_smarther_status.py`` (what the API answers and C2C notifications carry) and
``_smarther_requests.py`` (what is sent); this module is where they are imported from.
"""

from ._smarther_requests import (  # noqa: F401 - the constants: importable here as before
    BOOST_MINUTES,
    PROGRAM_RANGE,
    SETPOINT_RANGE,
    WIRE_TIME_RANGE,
    SetStatus,
    SubscriptionRequest,
    check_wire_time,
)
from ._smarther_status import (
    Capability,
    ChronothermostatStatus,
    Function,
    LoadState,
    Measure,
    Measures,
    Mode,
    Module,
    ModuleRef,
    Plant,
    PlantRef,
    Program,
    Receiver,
    Sender,
    Sensor,
    SetPoint,
    Subscription,
    Topology,
)

__all__ = [
    "Capability",
    "ChronothermostatStatus",
    "Function",
    "LoadState",
    "Measure",
    "Measures",
    "Mode",
    "Module",
    "ModuleRef",
    "Plant",
    "PlantRef",
    "Program",
    "Receiver",
    "Sender",
    "Sensor",
    "SetPoint",
    "SetStatus",
    "Subscription",
    "SubscriptionRequest",
    "Topology",
]
