"""Pacing: when the next read is due, as a pure function of the budget, the clock and the targets.

Nothing here reads a clock or touches a limiter: :func:`pace` takes the limiter's
:class:`~legrand_async.Quota` snapshot and the time, and says how far apart reads go and how many
may start now without spending the reserve.
"""

from __future__ import annotations

import math
import sys
from datetime import datetime
from typing import Final

import attrs

from .._transport.ratelimit import Quota
from .._transport.retry import RetryPolicy

__all__ = ["ATTEMPTS", "DEFAULT_INTERVAL", "UNLIMITED", "Pace", "pace", "spendable"]

#: Seconds between two reads of a target when neither ``interval`` nor a daily quota says.
DEFAULT_INTERVAL: Final = 300.0
#: The time to the reset counts as at least this (seconds): no burst to spend a day's leftover.
HORIZON: Final = 3600.0
#: Reads affordable when no daily quota counts them.
UNLIMITED: Final = sys.maxsize
#: The calls one read may make when no policy is given (RetryPolicy's default ``max_attempts``):
#: the room kept, per read, in what is left to spend, so that the retries of a batch do not eat
#: into the reserve. A client's pollers use its own policy's ``max_attempts``.
ATTEMPTS: Final = RetryPolicy().max_attempts


@attrs.frozen
class Pace:
    """How reads go now.

    - ``interval``: seconds between two reads of one target (None: no target, or no budget);
    - ``per_read``: seconds between two reads of the ring (``interval / targets``);
    - ``fastest``: seconds between two reads the per-second limit allows (0 without one);
    - ``affordable``: reads that may start now and leave the reserve untouched;
    - ``attempts``: the calls one read may make (the retry policy's ``max_attempts``).
    """

    interval: float | None
    per_read: float
    fastest: float
    affordable: int
    attempts: int = ATTEMPTS

    @property
    def limited(self) -> bool:
        """Whether a per-second limit spaces the reads."""
        return self.fastest > 0

    def at_once(self, most: int) -> int:
        """Calls to start together, at most ``most``: fewer when what is left to spend would
        not cover their retries (one at a time at the end of the budget)."""
        return max(1, min(most, self.affordable // self.attempts))


def pace(
    quota: Quota | None,
    now: datetime,
    *,
    targets: int,
    explicit: float | None,
    reserve: float,
    attempts: int = ATTEMPTS,
    share: float = 1.0,
) -> Pace:
    """The pace of ``targets`` reads under ``quota`` (None: no limiter) at ``now``.

    With a daily quota, the calls left today minus ``reserve`` of the day's quota are spread
    evenly over the time to the reset (counted as an hour at least); an explicit interval is a
    floor that the budget stretches. Without one, the explicit interval or
    :data:`DEFAULT_INTERVAL`. Never faster than the per-second limit allows. ``share`` is this
    poller's part of what is left (a worker of a fleet on one shared quota polling part of the
    targets): N workers with shares adding up to 1 spend together what one poller would.
    """
    fastest = 1.0 / quota.per_second if quota is not None and quota.per_second else 0.0
    floor = targets * fastest
    if quota is None or quota.per_day is None or quota.remaining_today is None:
        wanted = explicit if explicit is not None else DEFAULT_INTERVAL
        return _paced(max(wanted, floor), targets, fastest, UNLIMITED, attempts)
    left = spendable(quota.remaining_today, quota.per_day, reserve) * share
    if left < 1:
        return Pace(None, 0.0, fastest, 0, attempts)
    to_reset = max(HORIZON, (quota.resets_at - now).total_seconds())
    budget = to_reset * targets / left
    return _paced(max(explicit or 0.0, budget, floor), targets, fastest, math.floor(left), attempts)


def spendable(remaining: int, per_day: int, reserve: float) -> float:
    """The calls polling may still spend today: the ``remaining`` ones but ``reserve`` (a share)
    of the day's quota ``per_day``, kept for the user's own commands (may be negative)."""
    return remaining - reserve * per_day


def _paced(interval: float, targets: int, fastest: float, affordable: int, attempts: int) -> Pace:
    if targets < 1:
        return Pace(None, 0.0, fastest, affordable, attempts)
    return Pace(interval, interval / targets, fastest, affordable, attempts)
