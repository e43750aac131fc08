"""Changes made at the device: a thermostat's user turning the wheel, picking a mode, or the
room warming up, as the simulator's public API (``sim.device(plant_id, module_id).set(...)``).

A change is applied at once and notified to the plant's C2C subscribers exactly as a status set
through the API is (the same notification, delivered the same way).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..models._smarther_requests import PROGRAM_RANGE, SETPOINT_RANGE
from ..models.smarther import Function, Mode
from ._fleet import BOOST, MANUAL, Thermostat, wire
from .smarther import Smarther

__all__ = ["Device"]


def _member(kind: type[Function] | type[Mode], value: object) -> str:
    member = kind(value) if isinstance(value, str) else value
    if not isinstance(member, kind) or member.value == "unknown":
        raise ValueError(f"not a {kind.__name__}: {value!r}")
    return wire(member)


class Device:
    """One simulated thermostat, as its user sees it on the wall."""

    def __init__(self, smarther: Smarther, plant_id: str, module_id: str) -> None:
        if smarther.fleet.thermostat(plant_id, module_id) is None:
            raise KeyError(f"no thermostat {module_id!r} in plant {plant_id!r}")
        self._smarther = smarther
        self.plant_id, self.module_id = plant_id, module_id

    @property
    def thermostat(self) -> Thermostat:
        """The simulator's state of the thermostat (its timed mode ended if its time is up)."""
        thermostat = self._smarther.settled(self.plant_id, self.module_id)
        assert thermostat is not None  # checked when made; thermostats are never removed
        return thermostat

    def set(
        self,
        *,
        mode: Mode | str | None = None,
        setpoint: float | None = None,
        program: int | None = None,
        function: Function | str | None = None,
        until: datetime | timedelta | None = None,
        temperature: float | None = None,
    ) -> None:
        """Change the thermostat at the device, then notify the plant's C2C subscribers.

        ``setpoint`` without ``mode`` is manual (the wheel turned); ``mode`` alone keeps the
        setpoint and program; ``until`` (a time, or a duration from now) ends a manual, boost,
        off or protection mode, which then goes back to what it was before (boost needs it);
        ``temperature`` pins the measured room temperature (°C) from now on (see
        :meth:`release_temperature`). Arguments are checked before anything changes:
        ValueError for a setpoint outside 3..40 °C, a program outside 0..11, an unknown mode.
        """
        if all(v is None for v in (mode, setpoint, program, function, until, temperature)):
            raise ValueError("nothing to change")
        t = self.thermostat
        now = self._smarther.clock.now()
        new_mode = _member(Mode, mode) if mode is not None else None
        if new_mode is None and setpoint is not None:
            new_mode = MANUAL
        new_function = _member(Function, function) if function is not None else t.function
        end = now + until if isinstance(until, timedelta) else until
        if end is not None and (end.utcoffset() is None or not end > now):
            raise ValueError("until is an aware time after now (or a positive timedelta)")
        if setpoint is not None and not SETPOINT_RANGE[0] <= setpoint <= SETPOINT_RANGE[1]:
            raise ValueError(f"setpoint must be within {SETPOINT_RANGE}, got {setpoint!r}")
        if program is not None and not PROGRAM_RANGE[0] <= program <= PROGRAM_RANGE[1]:
            raise ValueError(f"program must be within {PROGRAM_RANGE}, got {program!r}")
        if new_mode == BOOST and end is None:
            raise ValueError("a boost needs until= (the device offers 30, 60 or 90 minutes)")
        if temperature is not None:
            t.measured = round(float(temperature), 1)
        if new_mode is not None or function is not None or program is not None:
            t.command(
                new_function,
                new_mode if new_mode is not None else t.mode,
                float(setpoint) if setpoint is not None else t.setpoint,
                program if program is not None else t.program,
                end,
            )
        self._smarther.notify(t)

    def release_temperature(self) -> None:
        """Let the measured temperature follow the daily curve again (and notify)."""
        t = self.thermostat
        t.measured = None
        self._smarther.notify(t)
