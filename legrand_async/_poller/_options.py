"""PollOptions: how a poller paces itself, defined once for every poller and the client."""

from __future__ import annotations

from typing import Final, TypedDict

import attrs

from .. import _checks

__all__ = ["DISCOVERY_INTERVAL", "PollKeywords", "PollOptions", "poll_options"]

#: Seconds between two listings of the plants (each followed by a read of every topology).
DISCOVERY_INTERVAL: Final = 86400.0


def _interval(value: object) -> float | None:
    return None if value is None else _checks.positive("interval", value)


def _reserve(value: object) -> float:
    return _checks.real("reserve", value, minimum=0, maximum=1, below=True)


def _concurrency(value: object) -> int | None:
    return None if value is None else _checks.count("concurrency", value)


def _discovery_interval(value: object) -> float:
    return _checks.positive("discovery_interval", value)


def _share(value: object) -> float:
    return _checks.real("share", value, minimum=0, maximum=1, above=True)


@attrs.frozen
class PollOptions:
    """How a poller paces itself (frozen, so one value may serve many pollers).

    - ``interval``: seconds between two reads of a target. None: what the daily quota allows
      (the calls left today but ``reserve`` of the day's quota, spread evenly over the time to
      the reset), else 300 s without a daily quota; an explicit value is a floor the budget
      stretches, so the reserve always holds;
    - ``reserve``: the share of the day's quota polling never spends (0 to below 1);
    - ``concurrency``: reads at once (None: the limiter's ``max_concurrency``, else 8; never
      more than the per-second limit);
    - ``discovery_interval``: seconds between two listings of the plants, for a thermostat
      poller that discovers its targets;
    - ``share`` (above 0 to 1): this poller's part of the budget, for a fleet of workers on one
      shared quota each polling part of the targets (``1 / workers``, or its targets / all
      targets), so that together they spend what one poller would.

    Pass it as ``options=``, or its fields as keywords (which override ``options``'s)::

        client.poll_thermostats(options=PollOptions(reserve=0.3), concurrency=4)
    """

    interval: float | None = attrs.field(default=None, converter=_interval)
    reserve: float = attrs.field(default=0.2, converter=_reserve)
    concurrency: int | None = attrs.field(default=None, converter=_concurrency)
    discovery_interval: float = attrs.field(
        default=DISCOVERY_INTERVAL, converter=_discovery_interval
    )
    share: float = attrs.field(default=1.0, converter=_share)


class PollKeywords(TypedDict, total=False):
    """The fields of :class:`PollOptions` as keyword arguments (their static types)."""

    interval: float | None
    reserve: float
    concurrency: int | None
    discovery_interval: float
    share: float


def poll_options(options: PollOptions | None, keywords: PollKeywords) -> PollOptions:
    """``options`` (default ``PollOptions()``) with the fields given as ``keywords`` replaced."""
    if options is None:
        return PollOptions(**keywords)
    if not isinstance(options, PollOptions):
        raise TypeError(f"options must be a PollOptions or None, got {type(options).__name__}")
    return attrs.evolve(options, **keywords) if keywords else options
