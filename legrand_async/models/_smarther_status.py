"""Smarther v2.0 models of what the API answers (and C2C notifications carry): plants,
topologies, statuses, measures, programs and subscriptions. Import them from
``legrand_async.models.smarther``; what is sent (``SetStatus``, ``SubscriptionRequest``) is in
``_smarther_requests.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._enum import LenientEnum
from ._latest import latest


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


class _Readings:
    """``temperature`` and ``humidity``: the latest readings of ``thermometer`` and
    ``hygrometer`` (a status and the measures both carry the two sensors)."""

    __slots__ = ()
    thermometer: Sensor | None
    hygrometer: Sensor | None

    @property
    def temperature(self) -> float | None:
        """The latest measured temperature."""
        return _latest(self.thermometer)

    @property
    def humidity(self) -> float | None:
        """The latest measured relative humidity (%)."""
        return _latest(self.hygrometer)


def _latest(sensor: Sensor | None) -> float | None:
    measure = sensor.latest if sensor is not None else None
    return measure.value if measure is not None else None


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
class ChronothermostatStatus(_Readings):
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
class Measures(_Readings):
    """The measures of a chronothermostat: full lists in ``thermometer`` and ``hygrometer``."""

    thermometer: Sensor = attrs.field(factory=Sensor)
    hygrometer: Sensor = attrs.field(factory=Sensor)
    sender: Sender | None = None


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
