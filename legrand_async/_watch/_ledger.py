"""One stream per thermostat: what was yielded, so that older news and repeats are dropped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

import attrs

from .._poller import StatusChange, thermostat_state
from ..models.smarther import ChronothermostatStatus

__all__ = ["GRAIN", "Ledger", "Source", "Target", "commanded", "seen"]

#: Push events carry their time to the second: one stamped less than this before the state
#: yielded is not older than it (a read sent within the same second).
GRAIN: Final = timedelta(seconds=1)

Target = tuple[str, str]
Source = Literal["push", "poll"]


def commanded(status: ChronothermostatStatus) -> tuple[object, ...]:
    """What a user sets (function, mode, setpoint, programs, end time): what push must report.

    The measures (temperature, humidity, load state) drift without a notification, so a poll
    that finds them changed says nothing about push.
    """
    return thermostat_state(status)[:5]  # the measures and the online flag aside


def seen(status: ChronothermostatStatus) -> tuple[object, ...]:
    """What makes a state new for the stream: :func:`thermostat_state`, with ``online`` unknown
    (a read's answer has none) taken as online, as a notification says."""
    return (*thermostat_state(status)[:-1], status.online is not False)


@attrs.define
class _Known:
    status: ChronothermostatStatus
    key: tuple[object, ...]
    stamp: datetime
    source: Source


class Ledger:
    """The latest state yielded for each thermostat, with the time it stands for.

    ``stamp`` is when a state was true: a push event's ``eventTime`` (its arrival when absent),
    the time a poll was sent. A state stamped :data:`GRAIN` or more before the one yielded is
    dropped (``stale``); the same state again only moves the stamp on (``repeats``).
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
        key = seen(status)
        if known is not None:
            if stamp + GRAIN <= known.stamp:
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
