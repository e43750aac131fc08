"""The daily window: when a day of quota starts and ends, in any zone, across DST, saturating.

Every instant here is an aware ``datetime`` in UTC, and comparisons are made in UTC (two aware
datetimes of one zone compare by wall time, which is wrong across a DST change). A window starts
at ``at`` (an aware ``time``) on a local date:

- on a night that skips ``at`` (spring forward), it is read as PEP 495 reads a skipped time: with
  the offset from before the jump, so 02:30 in Rome on the last Sunday of March is 03:30 CEST;
- on a night that repeats it (fall back), its first occurrence is the start;

so there is exactly one start per local date, and the starts increase from one date to the next.
Dates at the ends of ``datetime``'s range saturate at ``datetime.min``/``datetime.max``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

__all__ = ["EARLIEST", "LATEST", "later", "next_reset", "reset_on", "utc", "window_start"]

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def utc(when: datetime) -> datetime:
    """``when`` in UTC, a naive one read as UTC, saturating at the ends of the range."""
    if when.utcoffset() is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return LATEST if when.year > 1 else EARLIEST


def later(when: datetime, seconds: float) -> datetime:
    """``when`` plus ``seconds``, saturating at :data:`LATEST` instead of overflowing."""
    try:
        return when + timedelta(seconds=seconds)
    except OverflowError:
        return LATEST


def reset_on(day: date, at: time) -> datetime:
    """When the window of the local date ``day`` starts (UTC)."""
    try:
        local = datetime.combine(day, at.replace(tzinfo=None, fold=0), at.tzinfo)
        return local.astimezone(UTC)
    except OverflowError:
        return LATEST if day.year > 1 else EARLIEST


def _dates_around(day: date, before: int, after: int) -> list[date]:
    """``day`` and its neighbours, latest first, leaving out dates outside the calendar."""
    days = []
    for offset in range(after, -before - 1, -1):
        try:
            days.append(day + timedelta(days=offset))
        except OverflowError:
            continue
    return days


def _local_date(now: datetime, at: time) -> date:
    try:
        return now.astimezone(at.tzinfo).date()
    except OverflowError:
        return now.date()


def window_start(at: time, now: datetime) -> datetime:
    """When the window containing ``now`` started (UTC): the latest start at or before ``now``."""
    now = utc(now)
    for day in _dates_around(_local_date(now, at), before=2, after=1):
        start = reset_on(day, at)
        if start <= now:
            return start
    return EARLIEST


def next_reset(at: time, start: datetime) -> datetime:
    """When the window that started at ``start`` ends (UTC): the first start after it."""
    for day in reversed(_dates_around(_local_date(start, at), before=0, after=2)):
        end = reset_on(day, at)
        if end > start:
            return end
    return LATEST
