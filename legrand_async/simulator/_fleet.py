"""The simulated world: plants, thermostats, Home + Control modules, sockets, door entry units.

Everything here is plain mutable state plus the rules that make it realistic: temperatures
that drift over (simulator) time, timed modes that end, relays that follow the setpoint.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from ..models.home_control import ModuleKind
from ..models.smarther import Function, Mode

__all__ = ["Fleet", "HCModule", "SimPlant", "Socket", "Thermostat", "wire"]


def wire(value: Function | Mode) -> str:
    """An enum as the Smarther cloud spells it (``HEATING``, ``MANUAL``...)."""
    return value.value.upper()


HEATING, COOLING = wire(Function.HEATING), wire(Function.COOLING)
AUTOMATIC, MANUAL, BOOST = wire(Mode.AUTOMATIC), wire(Mode.MANUAL), wire(Mode.BOOST)
OFF, PROTECTION = wire(Mode.OFF), wire(Mode.PROTECTION)

_PLACES = ["Casa", "Chalet", "Office", "Loft", "Villa", "Studio", "Cabin", "Flat", "Farm", "Shop"]
_ROOMS = ["Living room", "Bedroom", "Kitchen", "Study", "Hall", "Bathroom", "Attic", "Cellar"]
_PROGRAMS = ["Default", "Comfort", "Eco", "Away", "Weekend", "Night"]
_AMBIENTS = [("Kitchen", "kitchen"), ("Bedroom", "bedroom"), ("Living Room", "livingroom")]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Thermostat:
    """A Smarther X8000 and its state."""

    id: str
    name: str
    plant_id: str
    base_temperature: float
    base_humidity: float
    phase: float
    function: str = HEATING
    mode: str = AUTOMATIC
    setpoint: float = 20.0
    program: int = 1
    until: datetime | None = None  # end of a timed manual/boost/off/protection
    previous: tuple[str, str, float, int] | None = None  # what a timed mode ends in
    programs: list[tuple[int, str]] = field(default_factory=list)

    #: The measured temperature, pinned at the device (None: the daily curve).
    measured: float | None = None

    def command(
        self, function: str, mode: str, setpoint: float, program: int, until: datetime | None
    ) -> None:
        """Take a new status (from the API or at the device); a timed one remembers what to
        go back to when it ends (the status before the first of a run of timed ones)."""
        now = (self.function, self.mode, self.setpoint, self.program)
        previous = now if self.until is None else self.previous
        self.function, self.mode, self.setpoint, self.program = function, mode, setpoint, program
        self.until = until
        self.previous = previous if until is not None else None

    def settle(self, now: datetime) -> bool:
        """End a timed mode whose time is up; whether something changed."""
        if self.until is None or now < self.until:
            return False
        self.function, self.mode, self.setpoint, self.program = self.previous or (
            self.function,
            AUTOMATIC,
            self.setpoint,
            1,
        )
        self.until = self.previous = None
        return True

    def temperature(self, now: datetime) -> float:
        """Room temperature: a daily wave around the base, nudged by the setpoint."""
        day = now.timestamp() / 86400 * 2 * math.pi
        wave = 1.2 * math.sin(day + self.phase) + 0.3 * math.sin(7 * day + self.phase)
        if self.measured is not None:
            return self.measured
        pull = 0.3 * (self.effective_setpoint() - self.base_temperature)
        return round(self.base_temperature + wave + pull, 1)

    def humidity(self, now: datetime) -> float:
        day = now.timestamp() / 86400 * 2 * math.pi
        return round(self.base_humidity + 4 * math.sin(day + 2 * self.phase), 1)

    def effective_setpoint(self) -> float:
        if self.mode == OFF:
            return 0.0
        if self.mode == PROTECTION:
            return 7.0
        if self.mode == BOOST:
            return 30.0 if self.function == HEATING else 15.0
        if self.mode == AUTOMATIC:
            return 19.0 + (self.program % 3)
        return self.setpoint

    def load_active(self, now: datetime) -> bool:
        temperature = self.temperature(now)
        if self.function == COOLING:
            return self.mode not in (OFF, PROTECTION) and temperature > self.effective_setpoint()
        return temperature < self.effective_setpoint()


@dataclass
class HCModule:
    """A Home + Control module (Zigbee device)."""

    id: str
    name: str
    kind: str  # light | plug | automation | remote | heater | energymeter
    hw_type: str
    on: bool = False
    level: int = 0
    power: int = 0
    reachable: bool = True


@dataclass
class Socket:
    """A Multisocket socket: one boolean per outlet."""

    id: str
    name: str
    type: str
    status: list[bool]


@dataclass
class SimPlantState:
    """Everything one plant holds, in every family."""

    name: str
    thermostats: list[Thermostat] = field(default_factory=list)
    subscriptions: dict[str, str] = field(default_factory=dict)  # subscription id -> URL
    hc_id: str = ""
    ambients: list[tuple[str, str, str, list[HCModule]]] = field(default_factory=list)
    hc_modules: list[HCModule] = field(default_factory=list)  # plant-level (remotes)
    scenes: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    sockets: list[Socket] = field(default_factory=list)
    door_units: list[str] = field(default_factory=list)

    def all_hc_modules(self) -> list[HCModule]:
        return [m for _, _, _, modules in self.ambients for m in modules] + self.hc_modules


class SimPlant(str):
    """A simulated plant: its id (it *is* the id string) with the fleet's details attached."""

    state: SimPlantState

    @property
    def id(self) -> str:
        return str(self)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def thermostats(self) -> list[Thermostat]:
        return self.state.thermostats

    @property
    def module_ids(self) -> list[str]:
        """The ids of the plant's thermostats."""
        return [t.id for t in self.state.thermostats]

    @property
    def hc_id(self) -> str:
        """The plant's Home + Control id (opaque, not a UUID)."""
        return self.state.hc_id

    @property
    def door_units(self) -> list[str]:
        return self.state.door_units


@dataclass
class Fleet:
    """All plants, by id."""

    plants: list[SimPlant]

    def __post_init__(self) -> None:
        self.by_id = {p.id: p.state for p in self.plants}
        self.by_hc_id = {p.state.hc_id: p.state for p in self.plants}

    @classmethod
    def generate(cls, plants: int, thermostats_per_plant: int, seed: int) -> Fleet:
        """A reproducible population: same arguments, same fleet."""
        rng = random.Random(seed)
        made = []
        for n in range(plants):
            plant_id = _uuid(rng)
            state = SimPlantState(name=f"{_PLACES[n % len(_PLACES)]} {n + 1}")
            for t in range(thermostats_per_plant):
                programs = [(i, _PROGRAMS[i]) for i in range(rng.randint(2, len(_PROGRAMS)))]
                state.thermostats.append(
                    Thermostat(
                        id=_uuid(rng),
                        name=_ROOMS[t % len(_ROOMS)],
                        plant_id=plant_id,
                        base_temperature=round(rng.uniform(17.0, 22.5), 1),
                        base_humidity=round(rng.uniform(40.0, 65.0), 1),
                        phase=rng.uniform(0, 2 * math.pi),
                        setpoint=float(rng.choice([19, 20, 20.5, 21])),
                        program=rng.randrange(len(programs)),
                        programs=programs,
                    )
                )
            state.hc_id = f"{rng.getrandbits(84):021x}"
            for a, (name, kind) in enumerate(_AMBIENTS):
                modules = [
                    HCModule(
                        f"{rng.getrandbits(88):022x}",
                        f"{name} Outlet",
                        ModuleKind.PLUG.value,
                        "NLP",
                    ),
                    HCModule(
                        f"{rng.getrandbits(88):022x}",
                        f"{name} Light",
                        ModuleKind.LIGHT.value,
                        "NLF",
                    ),
                ]
                if a == 0:
                    shutter = f"{rng.getrandbits(88):022x}"
                    modules.append(
                        HCModule(shutter, f"{name} Shutter", ModuleKind.AUTOMATION.value, "NBR")
                    )
                state.ambients.append((f"{rng.getrandbits(84):021x}", name, kind, modules))
            state.hc_modules.append(
                HCModule(
                    f"{rng.getrandbits(84):021x}", "General Command", ModuleKind.REMOTE.value, "NLT"
                )
            )
            state.scenes = [
                (f"{rng.getrandbits(64):016x}", "Good night"),
                (f"{rng.getrandbits(64):016x}", "Leaving"),
            ]
            state.sockets = [
                Socket(_uuid(rng), "Lamp", "wifi", [False]),
                Socket(_uuid(rng), "Living Room/TV", "multisocket", [True, False, True]),
            ]
            state.door_units = [_uuid(rng)]
            plant = SimPlant(plant_id)
            plant.state = state
            made.append(plant)
        return cls(made)

    def thermostat(self, plant_id: str, module_id: str) -> Thermostat | None:
        plant = self.by_id.get(plant_id)
        if plant is None:
            return None
        return next((t for t in plant.thermostats if t.id == module_id), None)
