"""Calls counted per daily window, on a wall clock that may step back or jump.

The limiter's day is the *newest* window the clock has shown: a clock stepping back never
starts a window again, it stays in the newest one and keeps its count. A call made while the
clock shows an earlier window (it stepped back) is also charged to that window, so neither the
window the clock shows nor the newest one ever lets more than ``per_day`` calls through.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, time, timedelta

import attrs

from .day_window import EARLIEST, LATEST, later, next_reset, utc, window_start

__all__ = ["MAX_EXHAUSTION", "MAX_STORED_SPENT", "STORE_SKEW", "Charge", "DayCount"]

#: Earlier windows whose counts are kept (the most recently charged), for a clock stepping back.
KEPT_WINDOWS = 64
#: The longest a 403 "Out of call volume quota" marks the quota spent, whatever it says (seconds).
MAX_EXHAUSTION = 7 * 86_400.0
#: How far ahead of the clock a window read from a store may start and still be taken up (the
#: clock of the process that wrote it was ahead); one starting later is a broken record.
STORE_SKEW = timedelta(days=1)
#: How far ahead of the clock a stored "spent until" may be: what a server may say, plus
#: :data:`STORE_SKEW`; one later is a broken record (it would hold every call for good).
MAX_STORED_SPENT = timedelta(seconds=MAX_EXHAUSTION) + STORE_SKEW


def _bounded(until: datetime, now: datetime) -> datetime | None:
    """``until`` in UTC, at most :data:`MAX_EXHAUSTION` after ``now``; None unless after it."""
    until = utc(until)
    if until <= now:
        return None
    return min(until, later(now, MAX_EXHAUSTION))


@attrs.frozen
class Charge:
    """The windows one call was charged to: the newest, and the clock's when it was earlier."""

    newest: datetime
    shown: datetime


class DayCount:
    """Calls in the newest window (this process's and, from a store, other processes') and in
    earlier windows the clock stepped back into; the server's "quota spent until"."""

    def __init__(self, at: time) -> None:
        self.at = at
        self.newest: datetime | None = None
        self.newest_end = LATEST
        self.own = 0  # this limiter's calls in the newest window
        self.others = 0  # other processes' calls in it, as a store last said
        self._earlier: OrderedDict[datetime, int] = OrderedDict()
        self._shown = (LATEST, EARLIEST)  # the window the clock showed last: [start, end)
        self._spent_until: datetime | None = None

    def shown(self, now: datetime) -> datetime:
        """The start of the window ``now`` is in; a newer window than any seen becomes the day."""
        start, end = self._shown
        if not start <= now < end:
            start = window_start(self.at, now)
            self._shown = (start, next_reset(self.at, start))
        if self.newest is None or start > self.newest:
            self._move_to(start)
        return start

    def _move_to(self, start: datetime) -> None:
        if self.newest is not None:
            self._keep(self.newest, self.own + self.others)
        self.newest, self.newest_end = start, next_reset(self.at, start)
        self.own = self.others = 0

    def _keep(self, start: datetime, used: int) -> None:
        self._earlier[start] = used
        self._earlier.move_to_end(start)
        while len(self._earlier) > KEPT_WINDOWS:
            self._earlier.popitem(last=False)

    @property
    def used(self) -> int:
        """Calls in the newest window."""
        return self.own + self.others

    def used_in(self, shown: datetime) -> int:
        """Calls counted against a call made now: the most of the newest and the shown window."""
        if shown == self.newest:
            return self.used
        return max(self.used, self._earlier.get(shown, 0))

    def full_until(self, shown: datetime, per_day: int) -> datetime | None:
        """When a call made now could start again if a window it counts in is full, else None."""
        if self.used >= per_day:
            return self.newest_end
        if shown != self.newest and self._earlier.get(shown, 0) >= per_day:
            return self._shown[1] if self._shown[0] == shown else next_reset(self.at, shown)
        return None

    def charge(self, shown: datetime) -> Charge:
        """Spend one call of every window a call made now counts in."""
        assert self.newest is not None
        self.own += 1
        if shown != self.newest:
            self._keep(shown, self._earlier.get(shown, 0) + 1)
        return Charge(self.newest, shown)

    def refund(self, charge: Charge) -> None:
        """Give back a call that was charged but never sent."""
        if charge.newest == self.newest:
            self.own = max(0, self.own - 1)
        else:
            self._take_back(charge.newest)
        if charge.shown != charge.newest:
            self._take_back(charge.shown)

    def _take_back(self, start: datetime) -> None:
        if self._earlier.get(start, 0) > 0:
            self._earlier[start] -= 1

    def adopt(self, day: datetime, used: int, own_included: int, now: datetime) -> None:
        """Take up a store's count of the window that started at ``day`` (``own_included`` of
        it are this limiter's): today's raises the others' count, a newer one (up to
        :data:`STORE_SKEW` ahead of the clock: another process's clock) becomes the day; an
        older one, or one that is no window start of ``at``, is ignored."""
        if self.newest is None:
            self.shown(now)
        assert self.newest is not None
        day = utc(day)
        if day < self.newest or day - now > STORE_SKEW or window_start(self.at, day) != day:
            return
        if day > self.newest:
            self._move_to(day)
        self.others = max(self.others, used - own_included, 0)

    def spent_until(self, now: datetime) -> datetime | None:
        """The server's "quota spent until", while it is after ``now``."""
        if self._spent_until is not None and self._spent_until <= now:
            self._spent_until = None
        return self._spent_until

    def mark_spent(self, until: datetime | None, now: datetime) -> None:
        """The server says the quota is spent until ``until`` (the end of the day when None)."""
        self.shown(now)
        self._spent_until = self.newest_end if until is None else _bounded(until, now)

    def adopt_spent(self, until: datetime | None, now: datetime) -> None:
        """Take up a "spent until" a store kept (the later one wins), unless it is further
        ahead than :data:`MAX_STORED_SPENT`."""
        if until is None or utc(until) - now > MAX_STORED_SPENT:
            return
        bounded = _bounded(until, now)
        if bounded is not None:
            self._spent_until = max(self._spent_until or bounded, bounded)
