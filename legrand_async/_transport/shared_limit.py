"""The limiter's side of a deciding store: asks, answers, and the marks still to be sent.

:class:`SharedDecisions` builds each :class:`~.deciding.Ask` from the limiter's
:class:`~.day_count.DayCount` (this writer's own calls and the highest count heard), bounds
every call to the store by the store's ``timeout``, takes the store's answers up into the
DayCount (so ``snapshot()`` shows the shared count), and keeps a 429's pause and a 403's
"spent until" until the store has them. A store that fails raises
:class:`~legrand_async.QuotaStoreUnavailable` (no request is sent), or, with
``when_unavailable="memory"``, lets the limiter decide on its own meanwhile: its calls are
counted as its own and reach the store with the next answer.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime
from typing import TypeVar

import anyio
import attrs

from .._secrets import scrub
from .._shield import to_the_end
from .._stores import StoreHealth
from ..errors import QuotaStoreUnavailable
from .day_count import DayCount
from .deciding import Ask, DecidingQuotaStore, Decision, Verdict

__all__ = ["PACE_GUARD", "SharedDecisions"]

#: The share of each pace interval a deciding store keeps free: starts go
#: ``(1 + PACE_GUARD) / per_second`` apart, so that a second of the gateway's own clock holds
#: no more than ``per_second`` of them even when the network delays one call and not the next
#: by up to ``PACE_GUARD`` seconds (15 ms); the pace reaches 98.5 % of ``per_second``.
PACE_GUARD = 0.015

T = TypeVar("T")


class SharedDecisions:
    """One limiter's questions to a :class:`DecidingQuotaStore`."""

    def __init__(
        self,
        store: DecidingQuotaStore,
        days: DayCount,
        *,
        per_day: int | None,
        per_second: float | None,
    ) -> None:
        self.store = store
        self.writer = uuid.uuid4().hex
        self._days = days
        self._per_day = per_day
        #: Seconds between two starts (0: no pace).
        self.interval = 0.0 if per_second is None else (1.0 + PACE_GUARD) / per_second
        self._heard: tuple[datetime | None, int] = (None, 0)  # the highest count heard, its day
        self._pause = 0.0  # seconds of a 429 not yet sent to the store
        self._spent: datetime | None = None  # a 403's "spent until" not yet sent
        self._health = StoreHealth(
            f"shared quota store {store!r}",
            "calls fail with QuotaStoreUnavailable"
            if store.when_unavailable == "raise"
            else "the limiter goes on with its in-memory limits",
        )
        self.loaded = False
        self._settle = False  # the store may count a call this limiter did not make

    @property
    def error(self) -> Exception | None:
        return self._health.error

    @property
    def memory_fallback(self) -> bool:
        return self.store.when_unavailable == "memory"

    def ask(self, now: datetime, *, take: bool) -> Ask:
        days = self._days
        days.shown(now)
        assert days.newest is not None
        heard_day, heard = self._heard
        return Ask(
            writer=self.writer,
            own=days.own,
            day=days.newest,
            day_end=days.newest_end,
            now=now,
            per_day=self._per_day,
            interval=self.interval,
            floor=heard if heard_day == days.newest else 0,
            take=take,
        )

    async def decide(
        self, now: datetime, *, take: bool = True, horizon: float = 0.0
    ) -> Decision | None:
        """The store's decision, taken up; None when it failed and the limiter decides alone
        (``when_unavailable="memory"``); QuotaStoreUnavailable when it failed otherwise."""
        if not await self.send_marks():
            return None
        ask = attrs.evolve(self.ask(now, take=take), horizon=horizon)
        self._settle = True  # until the answer comes: a lost one may have counted a call
        decision = await self._call("decide on a call with", lambda: self.store.decide(ask))
        if decision is None:
            return None
        self._settle = False
        self._take_up(decision, now, granted=decision.verdict is Verdict.GRANTED)
        return decision

    def _take_up(self, decision: Decision, now: datetime, *, granted: bool) -> None:
        days = self._days
        newer = days.newest is None or decision.day > days.newest
        own = (0 if newer else days.own) + (1 if granted else 0)
        days.adopt(decision.day, decision.used, own, now)
        if decision.day == days.newest:
            heard_day, heard = self._heard
            heard = heard if heard_day == decision.day else 0
            self._heard = (decision.day, max(decision.used, heard))
        days.adopt_spent(decision.spent_until, now)
        self.loaded = True

    def refunded(self, day: datetime) -> None:
        """A call of ``day`` was given back: the store hears it with the next question (the
        highest count heard drops by it, or it would bring the call back)."""
        heard_day, heard = self._heard
        if heard_day == day:
            self._heard = (day, max(0, heard - 1))
        self._settle = True

    def pause(self, seconds: float) -> None:
        self._pause = max(self._pause, seconds)

    def exhaust(self, until: datetime | None) -> None:
        if until is not None:
            self._spent = until if self._spent is None else max(self._spent, until)

    @property
    def pending(self) -> bool:
        return self._pause > 0 or self._spent is not None

    async def send_marks(self) -> bool:
        """Send a 429's pause and a 403's mark the store does not have yet; False if it failed
        and the limiter decides alone meanwhile."""
        if self._pause > 0:
            seconds = self._pause
            if await self._call("pause", lambda: _done(self.store.pause(seconds))) is None:
                return False
            self._pause = 0.0
        if self._spent is not None:
            until = self._spent
            if await self._call("mark spent", lambda: _done(self.store.exhaust(until))) is None:
                return False
            self._spent = None
        return True

    async def flush(self, now: Callable[[], datetime]) -> None:
        """Send the pending marks, and this limiter's own count if the store may hold another
        (an answer lost, a call given back), whatever cancels the caller; never raises for
        the store."""
        if self.pending or self._settle:
            with suppress(QuotaStoreUnavailable):  # kept for the next call; logged already
                await to_the_end(lambda: self.decide(now(), take=False))

    async def give_back(self, pace: tuple[int, int] | None) -> None:
        """Undo a start slot (another limiter of a chain refused); a failure only costs a gap."""
        if pace is None:
            return
        try:
            with anyio.fail_after(self.store.timeout):
                await self.store.give_back(pace)
        except Exception as exc:  # a slot not given back is a gap in the pace, no more
            self._health.failed("give back a slot to", exc)

    async def _call(self, action: str, work: Callable[[], Awaitable[T]]) -> T | None:
        timeout = self.store.timeout
        try:
            with anyio.fail_after(timeout if math.isfinite(timeout) else None):
                result = await work()
        except Exception as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else type(exc).__name__
            self._health.failed(action, exc)
            if self.memory_fallback:
                return None
            text = scrub(f"{reason}: {exc}" if str(exc) else reason, [])
            raise QuotaStoreUnavailable(
                f"the shared quota store {self.store!r} could not {action} ({text}, "
                f"timeout {timeout:g} s); nothing was sent",
                store=repr(self.store),
            ) from None
        self._health.works()
        return result


async def _done(step: Awaitable[None]) -> bool:
    await step
    return True
