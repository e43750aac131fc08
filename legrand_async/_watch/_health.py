"""Push health, plant by plant, and the defaults derived from the budget.

Formulas (``n`` thermostats, ``k`` plants, ``per_day`` the daily quota; without a daily quota
the fixed values in brackets):

- ``max_silence = max(1 h, n x 86400 / (0.1 x per_day))`` [24 h]: a thermostat heard from
  within it (by push, or read) is not polled; the period in which a tenth of the day's quota
  would read every thermostat once, so quiet thermostats of a healthy plant cost at most a tenth
  of the quota;
- ``check_interval = max(10 min, k x 86400 / (0.05 x per_day))`` [1 h]: each plant has one of
  its thermostats read this often to verify push (a twentieth of the quota at most); while any
  plant's push is broken, the healthy plants are checked ``k`` times as often (an outage is
  rarely one plant's);
- ``resubscribe_interval``: 6 h, one ``list_subscriptions`` call, then ``ensure_subscription``
  for any plant whose subscription of the URL is gone.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

import attrs

__all__ = [
    "CHECK_SHARE",
    "GRACE",
    "RESUBSCRIBE_INTERVAL",
    "SILENCE_SHARE",
    "PlantState",
    "PushHealth",
    "check_interval",
    "max_silence",
]

#: The share of the daily quota that quiet thermostats of healthy plants may cost.
SILENCE_SHARE: Final = 0.1
#: The share of the daily quota that the checks of push may cost.
CHECK_SHARE: Final = 0.05
#: Seconds a state found by a poll may take to arrive by push before push is presumed broken.
GRACE: Final = 60.0
#: Seconds between two verifications that every plant is still subscribed.
RESUBSCRIBE_INTERVAL: Final = 6 * 3600.0
_DAY: Final = 86400.0


def max_silence(thermostats: int, per_day: int | None) -> float:
    """The default ``max_silence`` for ``thermostats`` under a daily quota (see the module)."""
    if per_day is None:
        return _DAY
    return max(3600.0, max(1, thermostats) * _DAY / (SILENCE_SHARE * per_day))


def check_interval(plants: int, per_day: int | None) -> float:
    """Seconds between two checks of one plant's push (see the module)."""
    if per_day is None:
        return 3600.0
    return max(600.0, max(1, plants) * _DAY / (CHECK_SHARE * per_day))


@attrs.frozen
class PushHealth:
    """What the watch knows of one plant's push (``watch.health[plant_id]``).

    - ``healthy``: push is trusted (its thermostats are polled only when silent, or checked);
      False from a poll finding a state push never reported until the next push event;
    - ``subscription_id``: the subscription ensured for the URL (None until it is);
    - ``last_push``: when the latest push event of the plant arrived;
    - ``broken_since``: when push was last presumed broken (None while healthy);
    - ``breaks``: how many times push was presumed broken.
    """

    plant_id: str
    healthy: bool
    subscription_id: str | None
    last_push: datetime | None
    broken_since: datetime | None
    breaks: int


@attrs.define
class PlantState:
    """The watch's own record of a plant (monotonic times)."""

    healthy: bool = True
    subscription_id: str | None = None
    subscribe_due: bool = True
    subscribe_at: float = -math.inf  # when ensure_subscription may next be tried
    subscribe_retry: float = 60.0
    last_push: datetime | None = None
    broken_since: datetime | None = None
    breaks: int = 0
    check_at: float = math.inf
    check_turn: int = 0

    def snapshot(self, plant_id: str) -> PushHealth:
        return PushHealth(
            plant_id,
            self.healthy,
            self.subscription_id,
            self.last_push,
            self.broken_since,
            self.breaks,
        )
