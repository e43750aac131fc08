"""Smarther v2.0 (BTicino X8000 chronothermostat) models.

Responses are frozen attrs classes named after the portal's objects; the converter
(``legrand_async._converters``) owns every wire name and format quirk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx

from .. import _checks
from ._enum import LenientEnum
from ._latest import latest

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

SETPOINT_RANGE = (3.0, 40.0)
PROGRAM_RANGE = (0, 11)
BOOST_MINUTES = (30, 60, 90)


class Function(LenientEnum):
    """What the thermostat does: heat or cool."""

    HEATING = "heating"
    COOLING = "cooling"
    UNKNOWN = "unknown"


class Mode(LenientEnum):
    """The working mode."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"
    BOOST = "boost"
    OFF = "off"
    PROTECTION = "protection"
    UNKNOWN = "unknown"


class LoadState(LenientEnum):
    """Whether the relay is on (heating or cooling right now)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


@attrs.frozen
class Plant:
    """A plant (home) the user gave access to."""

    id: str
    name: str


@attrs.frozen
class Capability:
    """What a module can do with one capability (``function``, ``mode``, ``setPoint``...)."""

    capability: str
    can_do: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Module:
    """A device in a plant's topology; ``device`` is ``"chronothermostat"`` for an X8000."""

    id: str
    name: str
    device: str
    capabilities: list[Capability] = attrs.field(factory=list)


@attrs.frozen
class Topology:
    """A plant and its modules."""

    id: str
    name: str
    modules: list[Module] = attrs.field(factory=list)


@attrs.frozen
class Measure:
    """One reading: ``value`` in ``unit`` ("C", "F", "%") at ``timestamp``."""

    value: float
    unit: str | None = None
    timestamp: datetime | None = None


@attrs.frozen
class Sensor:
    """A sensor's readings, as sent (usually one)."""

    measures: list[Measure] = attrs.field(factory=list)

    @property
    def latest(self) -> Measure | None:
        """The most recent reading (the last one when timestamps are missing)."""
        return latest(self.measures)


@attrs.frozen
class ModuleRef:
    """``{"id": ...}`` of a module inside a sender."""

    id: str


@attrs.frozen
class PlantRef:
    """The plant (and module) a payload is about."""

    id: str
    module: ModuleRef | None = None


@attrs.frozen
class Sender:
    """Who a status or measure belongs to; ``address_type`` is sent in either case."""

    plant: PlantRef | None = None
    address_type: str | None = None
    system: str | None = None


@attrs.frozen
class Receiver:
    """The receivers of a C2C notification."""

    oid: list[str] = attrs.field(factory=list)


@attrs.frozen
class SetPoint:
    """A target temperature."""

    value: float
    unit: str = "C"


@attrs.frozen
class ChronothermostatStatus:
    """The status of one chronothermostat, from ``get_status`` or a C2C notification.

    ``activation_time`` is the end of a timed mode, in the device's local time as sent (naive
    when the API sends no offset); ``time`` is the device clock.
    """

    function: Function
    mode: Mode
    set_point: SetPoint | None = None
    programs: list[int] = attrs.field(factory=list)
    activation_time: datetime | None = None
    temperature_format: str | None = None
    load_state: LoadState = LoadState.UNKNOWN
    time: datetime | None = None
    thermometer: Sensor | None = None
    hygrometer: Sensor | None = None
    online: bool | None = None
    sender: Sender | None = None
    receiver: Receiver | None = None

    @property
    def setpoint(self) -> float | None:
        """The target temperature, or None (e.g. in automatic mode without one)."""
        return self.set_point.value if self.set_point is not None else None

    @property
    def temperature(self) -> float | None:
        """The latest measured temperature."""
        return _latest(self.thermometer)

    @property
    def humidity(self) -> float | None:
        """The latest measured relative humidity (%)."""
        return _latest(self.hygrometer)

    @property
    def plant_id(self) -> str | None:
        """The plant this status belongs to (from ``sender``)."""
        if self.sender is None or self.sender.plant is None:
            return None
        return self.sender.plant.id

    @property
    def module_id(self) -> str | None:
        """The module this status belongs to (from ``sender``)."""
        plant = self.sender.plant if self.sender is not None else None
        if plant is None or plant.module is None:
            return None
        return plant.module.id


@attrs.frozen
class Measures:
    """The measures of a chronothermostat: full lists in ``thermometer`` and ``hygrometer``."""

    thermometer: Sensor = attrs.field(factory=Sensor)
    hygrometer: Sensor = attrs.field(factory=Sensor)
    sender: Sender | None = None

    @property
    def temperature(self) -> float | None:
        """The latest temperature."""
        return _latest(self.thermometer)

    @property
    def humidity(self) -> float | None:
        """The latest relative humidity (%)."""
        return _latest(self.hygrometer)


@attrs.frozen
class Program:
    """A weekly program of a chronothermostat (number 0..11)."""

    number: int
    name: str | None = None


@attrs.frozen
class Subscription:
    """A C2C webhook subscription."""

    plant_id: str
    subscription_id: str
    endpoint_url: str


def _https_url(_: object, __: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"endpoint_url must be a str, got {type(value).__name__}")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"endpoint_url is not a valid URL: {exc}") from None
    if url.scheme != "https" or not url.host:
        raise ValueError("endpoint_url must be an absolute https:// URL (Legrand only calls https)")


@attrs.frozen
class SubscriptionRequest:
    """Body of *Subscribe to C2C notifications*."""

    endpoint_url: str = attrs.field(validator=_https_url)


def _latest(sensor: Sensor | None) -> float | None:
    measure = sensor.latest if sensor is not None else None
    return measure.value if measure is not None else None


def _check_setpoint(_: object, __: object, value: float | None) -> None:
    if value is None:
        return
    low, high = SETPOINT_RANGE
    _checks.real("setpoint", value, minimum=low, maximum=high, unit=" °C")


def _check_program(_: object, __: object, value: int | None) -> None:
    if value is None:
        return
    low, high = PROGRAM_RANGE
    _checks.count("program", value, minimum=low, maximum=high)


#: The wall times a status can carry: ``YYYY`` has four digits, and converting to local time
#: (or adding a boost's minutes) cannot leave the datetime range.
WIRE_TIME_RANGE = (datetime(1000, 1, 2), datetime.max - timedelta(days=2))


def check_wire_time(name: str, value: object) -> datetime:
    """``value`` if it is a datetime the wire can carry, else TypeError / ValueError."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    low, high = WIRE_TIME_RANGE
    if not low <= value.replace(tzinfo=None) <= high:
        raise ValueError(
            f"{name} must be between {low:%Y-%m-%d} and {high:%Y-%m-%d}, got {value.isoformat()}"
        )
    return value


def _check_time(_: object, attribute: attrs.Attribute[datetime | None], value: object) -> None:
    if value is not None:
        check_wire_time(attribute.name, value)


@attrs.frozen
class SetStatus:
    """A new status for a chronothermostat; build it with the class methods.

    ``until`` and ``start`` are sent as the device's local time (``YYYY-MM-DDThh:mm:ss``): naive
    datetimes as they are, aware ones converted to this machine's local time zone first.
    """

    function: Function
    mode: Mode
    setpoint: float | None = attrs.field(default=None, validator=_check_setpoint)
    program: int | None = attrs.field(default=None, validator=_check_program)
    start: datetime | None = attrs.field(default=None, validator=_check_time)
    until: datetime | None = attrs.field(default=None, validator=_check_time)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.function, Function) or self.function is Function.UNKNOWN:
            raise ValueError(f"function must be HEATING or COOLING, got {self.function!r}")
        if not isinstance(self.mode, Mode) or self.mode is Mode.UNKNOWN:
            raise ValueError(f"mode must be a known Mode, got {self.mode!r}")
        if (self.setpoint is not None) != (self.mode is Mode.MANUAL):
            raise ValueError("a setpoint goes with manual mode, and only with it")
        if (self.program is not None) != (self.mode is Mode.AUTOMATIC):
            raise ValueError("a program goes with automatic mode, and only with it")
        if self.mode is Mode.BOOST:
            if self.start is None or self.until is None:
                raise ValueError("boost needs a start and an end")
            if self.until - self.start not in _BOOST_DURATIONS:
                raise ValueError(f"boost lasts 30, 60 or 90 minutes, got {self.until - self.start}")
        elif self.start is not None:
            raise ValueError("only boost takes a start time")

    @classmethod
    def automatic(cls, program: int = 0, *, function: Function = Function.HEATING) -> SetStatus:
        """Follow weekly program ``program`` (0..11)."""
        if program is None:
            raise TypeError("program must be an int, got NoneType")
        return cls(function=function, mode=Mode.AUTOMATIC, program=program)

    @classmethod
    def manual(
        cls,
        setpoint: float,
        *,
        until: datetime | None = None,
        function: Function = Function.HEATING,
    ) -> SetStatus:
        """Hold ``setpoint`` °C (3..40) until ``until``, or forever."""
        if setpoint is None:
            raise TypeError("setpoint must be a number, got NoneType")
        return cls(function=function, mode=Mode.MANUAL, setpoint=setpoint, until=until)

    @classmethod
    def boost(
        cls,
        minutes: int,
        *,
        function: Function = Function.HEATING,
        start: datetime | None = None,
    ) -> SetStatus:
        """Boost for 30, 60 or 90 minutes from ``start`` (default: now, local time)."""
        if isinstance(minutes, bool) or minutes not in BOOST_MINUTES:
            raise ValueError(f"boost lasts 30, 60 or 90 minutes, got {minutes!r}")
        if start is None:
            start = datetime.now()
        elif check_wire_time("start", start).tzinfo is not None:
            start = start.astimezone(UTC)  # add the minutes on an absolute scale (DST)
        begin = start.replace(microsecond=0)
        return cls(
            function=function,
            mode=Mode.BOOST,
            start=begin,
            until=begin + timedelta(minutes=minutes),
        )

    @classmethod
    def off(
        cls, *, until: datetime | None = None, function: Function = Function.HEATING
    ) -> SetStatus:
        """Switch off until ``until``, or forever."""
        return cls(function=function, mode=Mode.OFF, until=until)

    @classmethod
    def protection(
        cls, *, until: datetime | None = None, function: Function = Function.HEATING
    ) -> SetStatus:
        """Antifreeze (heating) or heat protection (cooling) until ``until``, or forever."""
        return cls(function=function, mode=Mode.PROTECTION, until=until)


_BOOST_DURATIONS = frozenset(timedelta(minutes=m) for m in BOOST_MINUTES)
