"""Home + Control (legacy) models: plants, topology, module statuses and scenes.

Legacy: Legrand announced the retirement of the Home + Control API; it stays fully supported
here for as long as the cloud answers. Ids are opaque strings (not UUIDs).
"""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import attrs

from .. import _checks
from ._enum import LenientEnum
from ._latest import latest
from .smarther import ModuleRef

__all__ = [
    "Ambient",
    "AutomationLevel",
    "Consumption",
    "ModuleKind",
    "ModuleSender",
    "ModuleStatus",
    "ModuleStatuses",
    "Plant",
    "RunScene",
    "Scene",
    "StopAutomation",
    "Switch",
    "Topology",
    "TopologyModule",
]


class ModuleKind(LenientEnum):
    """The kind of a Home + Control module (``device`` in the topology)."""

    LIGHT = "light"
    PLUG = "plug"
    REMOTE = "remote"
    AUTOMATION = "automation"
    HEATER = "heater"
    ENERGYMETER = "energymeter"
    UNKNOWN = "unknown"


#: The API's path segment for each kind's module routes.
KIND_PATHS: dict[ModuleKind, str] = {
    ModuleKind.LIGHT: "light/lighting",
    ModuleKind.PLUG: "plug/energy",
    ModuleKind.HEATER: "heater/comfort",
    ModuleKind.REMOTE: "remote/remote",
    ModuleKind.ENERGYMETER: "meter/energy",
    ModuleKind.AUTOMATION: "automation/automation",
}


@attrs.frozen
class Plant:
    """A Home + Control plant (a gateway)."""

    id: str
    name: str | None = None
    country: str | None = None


@attrs.frozen
class TopologyModule:
    """A module of the topology; ``hw_type`` is e.g. NLP (socket), NLF (dimmer), NLT (remote)."""

    id: str
    name: str | None = None
    device: ModuleKind = ModuleKind.UNKNOWN
    hw_type: str | None = None
    type: str | None = None

    @property
    def kind(self) -> ModuleKind:
        """The module's kind (``device`` on the wire)."""
        return self.device


@attrs.frozen
class Ambient:
    """A room and its modules; ``type`` is e.g. kitchen, bedroom, livingroom."""

    id: str
    name: str | None = None
    type: str | None = None
    modules: list[TopologyModule] = attrs.field(factory=list)


@attrs.frozen
class Topology:
    """A plant's rooms (``ambients``) and the modules that belong to no room (``modules``)."""

    id: str
    name: str | None = None
    ambients: list[Ambient] = attrs.field(factory=list)
    modules: list[TopologyModule] = attrs.field(factory=list)

    @property
    def all_modules(self) -> list[TopologyModule]:
        """Every module, room by room, then the plant-level ones."""
        return [m for a in self.ambients for m in a.modules] + self.modules


@attrs.frozen
class Consumption:
    """An instant power reading of a plug, light or meter."""

    value: float
    unit: str | None = None
    timestamp: datetime | None = None


@attrs.frozen
class PlantModuleRef:
    """``{"module": {"id": ...}}`` inside a sender."""

    module: ModuleRef | None = None


@attrs.frozen
class ModuleSender:
    """Which module a status or scene is about: ``{"plant": {"module": {"id": ...}}}``."""

    plant: PlantModuleRef | None = None

    @property
    def module_id(self) -> str | None:
        """The module's id, if sent."""
        if self.plant is None or self.plant.module is None:
            return None
        return self.plant.module.id


@attrs.frozen
class ModuleStatus:
    """A module's status. ``kind`` comes from the group the API put it in (``plugs``...)."""

    kind: ModuleKind = ModuleKind.UNKNOWN
    reachable: bool | None = None
    fw: int | None = None
    status: str | None = None
    level: int | None = None
    step: int | None = None
    battery: str | None = None
    consumptions: list[Consumption] = attrs.field(factory=list)
    sender: ModuleSender | None = None

    @property
    def module_id(self) -> str | None:
        """The module this status is about."""
        return self.sender.module_id if self.sender is not None else None

    @property
    def is_on(self) -> bool | None:
        """Whether a plug or light is on (None for modules without an on/off status)."""
        return None if self.status is None else self.status.lower() == "on"

    @property
    def power_w(self) -> float | None:
        """The latest instant power in watts, if the module reports it."""
        watts = [c for c in self.consumptions if (c.unit or "watt").lower() in ("watt", "w")]
        reading = latest(watts)
        return reading.value if reading is not None else None


#: Statuses grouped as the API sends them (``{"plugs": [...], "lights": [...]}``), flattened.
ModuleStatuses = NewType("ModuleStatuses", list[ModuleStatus])


@attrs.frozen
class Scene:
    """A scene (a set of actions the user defined in the app)."""

    name: str | None = None
    sender: ModuleSender | None = None

    @property
    def id(self) -> str | None:
        """The scene's id, to pass to ``run_scene``."""
        return self.sender.module_id if self.sender is not None else None


def _check_level(_: object, __: object, value: int) -> None:
    _checks.count("level", value, minimum=0, maximum=100)


def _check_on(_: object, __: object, value: bool) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"on must be a bool, got {type(value).__name__}")


@attrs.frozen
class Switch:
    """Body switching plugs or lights: ``{"status": "on" | "off"}``."""

    on: bool = attrs.field(validator=_check_on)


@attrs.frozen
class AutomationLevel:
    """Body moving a shutter to ``level`` percent (0..100)."""

    level: int = attrs.field(validator=_check_level)


@attrs.frozen
class StopAutomation:
    """Body stopping a moving shutter (``level`` -1)."""

    level: int = -1


@attrs.frozen
class RunScene:
    """Body running a scene."""

    enable: bool = True
