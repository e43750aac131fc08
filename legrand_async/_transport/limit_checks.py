"""Checks of RateLimit's arguments that are not plain numbers: the reset time, the clock."""

from __future__ import annotations

from datetime import date, datetime, time

__all__ = ["clock_like", "reset_time"]


def reset_time(value: object) -> None:
    """An aware ``datetime.time`` whose zone gives an offset."""
    if not isinstance(value, time):
        raise TypeError(f"day_resets_at must be a datetime.time, got {value!r}")
    try:
        offset = datetime.combine(date(2000, 1, 1), value).utcoffset()
    except Exception as exc:  # a tzinfo of the user's own that fails
        raise ValueError(f"day_resets_at has a time zone that gives no offset ({exc})") from None
    if offset is None:
        raise ValueError("day_resets_at must be an aware time, e.g. time(0, tzinfo=UTC)")


def clock_like(value: object) -> None:
    if not all(callable(getattr(value, name, None)) for name in ("now", "monotonic", "sleep")):
        raise TypeError(f"clock must have now(), monotonic() and sleep(), got {value!r}")
