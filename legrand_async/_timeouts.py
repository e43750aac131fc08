"""Reading an httpx timeout configuration: the one place that knows its shapes."""

from __future__ import annotations

import math
from collections.abc import Mapping

import httpx

__all__ = ["longest"]


def longest(timeout: object) -> float:
    """The longest phase of an httpx timeout configuration, in seconds; ``inf`` when a phase
    (or all) is unbounded.

    ``timeout`` is a request's ``extensions["timeout"]`` (a dict of phases), an
    ``httpx.Timeout``, a number or None, as the transport reads it for a whole attempt.
    """
    if isinstance(timeout, httpx.Timeout):
        timeout = timeout.as_dict()
    values = list(timeout.values()) if isinstance(timeout, Mapping) else [timeout]
    seconds = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not values or len(seconds) < len(values) or not all(map(math.isfinite, seconds)):
        return math.inf
    return max(seconds)
