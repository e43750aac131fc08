"""Smarther v2.0 (BTicino X8000 chronothermostat) models.

Responses are frozen attrs classes named after the portal's objects; the converter
(``legrand_async._converters``) owns every wire name and format quirk. The classes live in
``_smarther_status.py`` (what the API answers and C2C notifications carry) and
``_smarther_requests.py`` (what is sent); this module is where they are imported from.
"""

# the constants: importable from here as before
from ._smarther_requests import BOOST_MINUTES as BOOST_MINUTES
from ._smarther_requests import PROGRAM_RANGE as PROGRAM_RANGE
from ._smarther_requests import SETPOINT_RANGE as SETPOINT_RANGE
from ._smarther_requests import WIRE_TIME_RANGE as WIRE_TIME_RANGE
from ._smarther_requests import SetStatus, SubscriptionRequest
from ._smarther_requests import check_wire_time as check_wire_time
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
