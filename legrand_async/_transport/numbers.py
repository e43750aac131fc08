"""The one check of a number argument of the transport (the limiter's, the retry policy's,
the timeout): a finite int or float, bools refused."""

from __future__ import annotations

import math

__all__ = ["real"]


def real(name: str, value: object, *, zero: bool) -> float:
    """A finite int or float, > 0 (or >= 0 with ``zero``; -0.0 is 0.0)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a bool: {value!r}")
    if not isinstance(value, int | float):
        raise TypeError(f"{name} must be an int or a float, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not (math.isfinite(number) and (number >= 0 if zero else number > 0)):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value + 0.0 if isinstance(value, float) else value
