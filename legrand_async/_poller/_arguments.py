"""The poller's arguments, checked before any request: a clear TypeError or ValueError."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any, TypeVar

__all__ = ["count", "seconds", "share", "targets"]

T = TypeVar("T", bound=Hashable)


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int past the largest float
        raise ValueError(f"{name} is too large to be a number of seconds or a share") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def seconds(name: str, value: object) -> float:
    """A positive, finite number of seconds."""
    number = _real(name, value)
    if not number > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return number


def share(name: str, value: object) -> float:
    """A share in 0 <= share < 1."""
    number = _real(name, value)
    if not 0 <= number < 1:
        raise ValueError(f"{name} is a share of the daily quota, 0 <= {name} < 1, got {value!r}")
    return number


def count(name: str, value: object) -> int:
    """An int >= 1 (a bool is refused: it is not a count)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


def targets(value: Iterable[T] | Any) -> list[T]:
    """The targets, once each in their order; TypeError for what is not a collection of them."""
    if value is None:
        raise TypeError("targets is required")
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"targets must be an iterable of targets, got {type(value).__name__}")
    try:
        unique = list(dict.fromkeys(value))
    except TypeError as exc:
        raise TypeError(f"every target must be hashable: {exc}") from None
    if not unique:
        raise ValueError("targets is empty: there is nothing to poll")
    return unique
