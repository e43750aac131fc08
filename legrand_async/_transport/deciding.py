"""Stores that decide: the limiter asks them for every slot, so processes and hosts share it.

A :class:`DecidingQuotaStore` (``RedisQuotaStore``, ``FileQuotaStore(path, shared=True)``)
takes the limiter's decisions itself, atomically: the per-second pace, the daily count, the
429 pause and the 403 "spent until" live in the store, and every ``acquire`` is one call to
:meth:`DecidingQuotaStore.decide`. The single-process stores (:class:`~.quota_store.QuotaStore`)
stay written behind: their hot path does no I/O.

Counts are *absolute* per writer: each limiter sends its own calls of the day with every
decision (``Ask.own``) and the store sets that writer's share to it before deciding. A decision
whose answer was lost (a timeout, a dropped connection, a cancellation) is set right by the
next one (the store counted one call more than the writer did: it gives it back), calls made
on in-memory limits while the store was away are added when it is back, and a store that lost
its data (a Redis restarted without persistence) is rebuilt by the writers: each brings back
its own calls and the highest count it saw (``Ask.floor``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = ["Ask", "DecidingQuotaStore", "Decision", "Verdict", "WhenUnavailable"]

#: What a limiter does when its deciding store fails: raise ``QuotaStoreUnavailable``, or go on
#: with its in-memory limits until the store answers again.
WhenUnavailable = Literal["raise", "memory"]


class Verdict(enum.Enum):
    GRANTED = "granted"  # a slot is taken: send the request
    WAIT = "wait"  # paced or paused: ask again after ``wait`` seconds
    FULL = "full"  # the day's calls are spent (the local count says so)
    SPENT = "spent"  # the gateway said the day is spent, until ``spent_until``
    PEEK = "peek"  # only read: nothing was decided


@attrs.frozen
class Ask:
    """One question to the store.

    ``day``/``day_end``: the daily window the asking clock is in (aware UTC); ``now`` that
    clock's time; ``own`` this writer's calls counted in ``day`` so far (absolute); ``floor``
    the highest count of ``day`` it has heard from the store (0 if none); ``interval`` seconds
    between two starts (0: no pace); ``horizon`` how far ahead (seconds) a start may be
    booked: a slot of the pace that comes within it is granted at once, with ``wait`` the
    time to it (the starts keep to the store's schedule, however late the askers wake);
    ``take``: False only reads.
    """

    writer: str
    own: int
    day: datetime
    day_end: datetime
    now: datetime
    per_day: int | None
    interval: float
    floor: int
    take: bool = True
    horizon: float = 0.0


@attrs.frozen
class Decision:
    """The store's answer: ``used`` calls in ``day`` (the store's day, which may be newer than
    the ask's), ``wait`` seconds to wait (WAIT: then ask again; GRANTED: then send),
    ``spent_until`` (SPENT, or a mark it holds), ``pace`` what a give-back needs (the pace's
    next start after this one, and the one before it)."""

    verdict: Verdict
    used: int
    day: datetime
    wait: float = 0.0
    spent_until: datetime | None = None
    pace: tuple[int, int] | None = None


@runtime_checkable
class DecidingQuotaStore(Protocol):
    """A store shared by limiters in several processes (or hosts) that decides atomically.

    ``when_unavailable``: ``"raise"`` or ``"memory"`` (see :data:`WhenUnavailable`);
    ``timeout``: seconds one call to the store may take (past it, the store is unavailable).
    """

    when_unavailable: WhenUnavailable
    timeout: float

    async def decide(self, ask: Ask) -> Decision:
        """Set ``ask.writer``'s share of ``ask.day`` to ``ask.own`` (and the count to at least
        ``ask.floor``), then, with ``ask.take``, take a slot if the day, the pace and any
        pause allow it (one more call of the writer's), atomically."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold every limiter on the store for ``seconds`` (the gateway's 429)."""
        ...

    async def exhaust(self, until: datetime) -> None:
        """The gateway says the day is spent until ``until`` (its 403; the latest one wins)."""
        ...

    async def give_back(self, pace: tuple[int, int]) -> None:
        """Undo the start slot of a decision whose call is not sent (another limiter of a
        chain refused), unless a later slot was taken since. Counts are given back by the
        writer's next ``own``."""
        ...
