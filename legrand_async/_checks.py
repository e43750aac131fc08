"""The one way arguments are checked, package-wide, before anything is sent.

The rule (docs/quickstart.md, "Arguments"): a value of the wrong type raises ``TypeError``: a
bool, a ``str``, a ``Decimal``, ``None``... where a number is expected (a bool is not a number),
a float (``2.0``, ``inf`` and ``nan`` included) where a whole count is expected. A value of the
right type that is out of range (negative, zero where it must be positive, ``inf``, ``nan``, an
int beyond a float's range, past a maximum) raises ``ValueError``. Messages name the argument
and say what it must be; they show a number, never anything else given.

For compatibility with the releases where some of these raised ``ValueError``, the
``TypeError`` raised here is also a ``ValueError`` (:class:`ArgumentTypeError`).
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "ArgumentTypeError",
    "count",
    "non_negative",
    "number",
    "positive",
    "real",
]

_BIG: Final = 64  # ints of more bits are shown by their size, not their digits


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError``, also a ``ValueError`` (what earlier
    releases raised for a bool or a string given as a number)."""


def _shown(value: int | float) -> str:
    if isinstance(value, int) and value.bit_length() > _BIG:  # repr fails past 4300 digits
        return f"{'-' if value < 0 else ''}an int of {value.bit_length()} bits"
    return repr(value)


def _kind(value: object) -> str:
    return type(value).__name__


def number(name: str, value: object) -> int | float:
    """``value`` if it is an int or a float (a bool is not); any value, ``nan`` included."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArgumentTypeError(f"{name} must be a number (an int or a float), got {_kind(value)}")
    return value


def real(
    name: str,
    value: object,
    *,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    above: bool = False,
    below: bool = False,
    unit: str = "",
) -> int | float:
    """A finite int or float from ``minimum`` to ``maximum`` (``above``: strictly more than
    ``minimum``; ``below``: strictly less than ``maximum``); ``-0.0`` comes back as ``0.0``."""
    checked = number(name, value)
    try:
        as_float = float(checked)
    except OverflowError:  # an int beyond float's range
        as_float = math.inf
    low_ok = as_float > minimum if above else as_float >= minimum
    high_ok = as_float < maximum if below else as_float <= maximum
    if not (math.isfinite(as_float) and low_ok and high_ok):
        raise ValueError(
            f"{name} must be {_range(minimum, maximum, above, below)}{unit}, got {_shown(checked)}"
        )
    return checked + 0.0 if isinstance(checked, float) else checked


def positive(name: str, value: object, *, unit: str = "") -> int | float:
    """A finite number > 0 (seconds, a rate)."""
    return real(name, value, minimum=0, above=True, unit=unit)


def non_negative(name: str, value: object, *, unit: str = "") -> int | float:
    """A finite number >= 0 (``-0.0`` is 0.0)."""
    return real(name, value, minimum=0, unit=unit)


def count(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """A whole number: an int (not a bool, not a float) from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name} must be an int, got {_kind(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an int {bounds}, got {_shown(value)}")
    return value


def _range(minimum: float, maximum: float, above: bool, below: bool) -> str:
    low = f"> {minimum:g}" if above else f">= {minimum:g}"
    if maximum == math.inf:
        return "a finite number" + ("" if minimum == -math.inf else f" {low}")
    if minimum == -math.inf:
        return f"a finite number {'<' if below else '<='} {maximum:g}"
    if not (above or below):
        return f"a number between {minimum:g} and {maximum:g}"
    return f"a number {low} and {'<' if below else '<='} {maximum:g}"
