"""One stream per thermostat: what was yielded, so that older news and repeats are dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from .._poller import StatusChange, thermostat_state
from ..models.smarther import ChronothermostatStatus

__all__ = ["Ledger", "Source", "Target", "commanded"]

Target = tuple[str, str]
Source = Literal["push", "poll"]


def commanded(status: ChronothermostatStatus) -> tuple[object, ...]:
    """What a user sets (function, mode, setpoint, programs, end time): what push must report.

    The measures (temperature, humidity, load state) drift without a notification, so a poll
    that finds them changed says nothing about push.
    """
    return thermostat_state(status)[:5]  # the measures and the online flag aside


@attrs.define
class _Known:
    status: ChronothermostatStatus
    key: tuple[object, ...]
    stamp: datetime
    source: Source


class Ledger:
    """The latest state yielded for each thermostat, with the time it stands for.

    ``stamp`` is when a state was true: a push event's ``eventTime`` (its arrival when absent),
    the time a poll was sent. A state stamped before the one yielded is dropped (``stale``); the
    same state again only moves the stamp on (``repeats``).
    """

    def __init__(self) -> None:
        self._known: dict[Target, _Known] = {}
        self.stale = 0
        self.repeats = 0

    def offer(
        self, target: Target, status: ChronothermostatStatus, stamp: datetime, source: Source
    ) -> StatusChange | None:
        """The change to yield for ``status`` seen by ``source`` at ``stamp``, or None."""
        known = self._known.get(target)
        key = thermostat_state(status)
        if known is not None:
            if stamp < known.stamp:
                self.stale += 1
                return None
            if key == known.key:
                self.repeats += 1
                known.stamp = stamp
                return None
        self._known[target] = _Known(status, key, stamp, source)
        previous = known.status if known is not None else None
        return StatusChange(target[0], target[1], previous, status, source)

    def status(self, target: Target) -> ChronothermostatStatus | None:
        known = self._known.get(target)
        return known.status if known is not None else None

    def stamp(self, target: Target) -> datetime | None:
        known = self._known.get(target)
        return known.stamp if known is not None else None

    def forget(self, target: Target) -> None:
        self._known.pop(target, None)
