"""Several limiters on one client: a call goes through each, in order, or through none.

``LegrandClient(rate_limit=(app_limit, user_limit))``: the app's per-second limit shared by
every user's client, then this user's daily quota. A call takes a slot in each limiter in the
order given; when one refuses (its day is spent, its wait is over ``max_wait``, the store is
unavailable, or the call is cancelled), the slots already taken are given back (the count at
once, a pace slot unless a later one was taken since), so a refused call spends nothing
anywhere. The gateway's answers go to the limiters they are about: a 429 (the short-term
limit) pauses the limiters that have a ``per_second`` (all of them when none has), a 403
"Out of call volume quota" marks spent the limiters that have a ``per_day`` (all when none
has).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime

from .._clock import Clock
from ..errors import ServerQuotaExhausted
from .limiter import Quota, RateLimit, Taken

__all__ = ["RateLimits"]


class RateLimits:
    """The limiters of one client, used as one (see the module's docstring)."""

    def __init__(self, limits: Sequence[RateLimit]) -> None:
        if not limits:
            raise ValueError("rate_limit must name at least one RateLimit (or be None)")
        self.limits = tuple(limits)
        paced = [limit.per_second for limit in self.limits if limit.per_second is not None]
        capped = [limit.max_concurrency for limit in self.limits if limit.max_concurrency]
        #: The slowest pace of the chain (None: none has one).
        self.per_second = min(paced) if paced else None
        #: The smallest cap on requests in flight (None: none has one).
        self.max_concurrency = min(capped) if capped else None
        self._paused = [limit for limit in self.limits if limit.per_second is not None] or list(
            self.limits
        )
        self._daily = [limit for limit in self.limits if limit.per_day is not None] or list(
            self.limits
        )

    def bind(self, clock: Clock) -> None:
        for limit in self.limits:
            limit.bind(clock)

    async def load(self) -> None:
        for limit in self.limits:
            await limit.load()

    async def flush(self) -> None:
        for limit in self.limits:
            await limit.flush()

    async def acquire(self) -> None:
        """A slot in every limiter, or in none (what was taken is given back)."""
        taken: list[tuple[RateLimit, Taken]] = []
        try:
            for limit in self.limits:
                taken.append((limit, await limit._take()))
        except BaseException:
            for limit, slot in reversed(taken):
                await limit._give_back(slot)
            raise

    @asynccontextmanager
    async def _in_flight(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for limit in self.limits:
                await stack.enter_async_context(limit.in_flight())
            yield

    def in_flight(self) -> AbstractAsyncContextManager[object]:
        return self._in_flight()

    def pause(self, seconds: float, *, cap: float | None = None) -> None:
        """A 429: pause the limiters with a per-second limit (all, when none has one)."""
        for limit in self._paused:
            limit.pause(seconds, cap=cap)

    def exhaust(
        self, resets_at: datetime | None, *, answer: ServerQuotaExhausted | None = None
    ) -> None:
        """A 403 quota answer: mark spent the limiters with a daily quota (all, when none)."""
        for limit in self._daily:
            limit.exhaust(resets_at, answer=answer)

    def snapshot(self) -> Quota:
        """The tightest limiter's quota: the fewest calls left today; the longest pause."""
        quotas = [limit.snapshot() for limit in self.limits]
        daily = [q for q in quotas if q.remaining_today is not None]
        tightest = min(daily, key=lambda q: q.remaining_today or 0) if daily else quotas[0]
        pauses = [q.paused_until for q in quotas if q.paused_until is not None]
        return Quota(
            used_today=tightest.used_today,
            remaining_today=tightest.remaining_today,
            resets_at=tightest.resets_at,
            paused_until=max(pauses) if pauses else None,
            per_second=self.per_second,
            per_day=tightest.per_day,
        )

    def __repr__(self) -> str:
        return f"RateLimits({', '.join(map(repr, self.limits))})"
