"""The watch's loop: push taken in, then discovery, subscriptions, polls and checks, each call
within the budget.

One task runs :meth:`Engine.run` (calls one at a time: a watch makes few); the push task hands
each event to :meth:`Engine.pushed`. Both give their changes to ``emit``.
"""

from __future__ import annotations

import math
from typing import Final

import anyio.lowlevel

from .._poller._discovery import module_id, plant_id
from .._poller._pacing import pace
from ..webhooks import ThermostatEvent
from ._health import GRACE, RESUBSCRIBE_INTERVAL
from ._ledger import Target, commanded
from ._upkeep import Upkeep

__all__ = ["Engine"]

#: Calls ``ensure_subscription`` may make (list, subscribe; after a 409: list, remove, subscribe).
_SUBSCRIBE_CALLS: Final = 5


class Engine(Upkeep):
    """What the watch knows and does; see :mod:`legrand_async._watch`."""

    # ----------------------------------------------------------------------------------- push

    def pushed(self, event: ThermostatEvent) -> None:
        try:
            target = (plant_id(event.plant_id), module_id(event.module_id))
        except (TypeError, ValueError):
            self.skipped += 1
            return
        self.push_events += 1
        now = self._clock.now()
        state = self.plants.get(target[0])
        if state is not None:
            state.last_push = now
            if not state.healthy:
                state.healthy, state.broken_since = True, None
                state.check_at = self._clock.monotonic() + self.check_every()
        known = self.targets.get(target)
        if known is not None:
            known[1] = self._clock.monotonic()
        self._suspects.pop(target, None)
        stamp = event.event_time if event.event_time is not None else now
        change = self.ledger.offer(target, event.status, stamp, "push")
        if change is not None:
            self._emit(change)

    # ------------------------------------------------------------------------------ the loop

    async def run(self) -> None:
        while True:
            await anyio.lowlevel.checkpoint()
            now = self._clock.monotonic()
            self._expire_suspects(now)
            if not await self._act(now):
                with anyio.CancelScope() as self._sleeping:  # nudge() ends it early
                    await self._clock.sleep(max(0.0, self._next_wake(now) - now))
                self._sleeping = None

    def nudge(self) -> None:
        """Look again now (a subscription was reported deleted)."""
        self._verify_at = -math.inf
        if self._sleeping is not None:
            self._sleeping.cancel()

    async def _act(self, now: float) -> bool:
        """Make the call most due, if the budget allows one; whether there was one to make."""
        plan = self.plan
        subscribing = [
            p for p, s in self.plants.items() if s.subscribe_due and s.subscribe_at <= now
        ]
        due = self._due(now)
        poll = bool(due) and now >= self._poll_next
        checks = [p for p, s in self.plants.items() if s.healthy and s.check_at <= now]
        verify = self.plants and now >= self._verify_at
        if not (plan.due(now) or subscribing or poll or checks or verify):
            return False
        calls = _SUBSCRIBE_CALLS if subscribing and not plan.due(now) else 1
        if not self._affords(calls):
            await self._wait_for_reset()
            return True
        if plan.due(now):
            await self._discover(now)
        elif subscribing:
            await self._subscribe(subscribing[0])
        elif verify:
            self._verify_at = now + RESUBSCRIBE_INTERVAL
            await self._verify()
        elif poll:
            self._poll_next = now + self._per_read(len(due))
            await self._read(min(due, key=lambda t: self.targets[t][0]))
        else:
            await self._check(checks[0], now)
        return True

    def _due(self, now: float) -> list[Target]:
        silence = self.max_silence
        plants = self.plants
        return [
            t
            for t, (_, heard) in self.targets.items()
            if not (s := plants.get(t[0])) or not s.healthy or now - heard >= silence
        ]

    def _per_read(self, targets: int) -> float:
        quota = self._limit.snapshot() if self._limit is not None else None
        p = pace(
            quota,
            self._clock.now(),
            targets=targets,
            explicit=self._options.interval,
            reserve=self._reserve,
            attempts=self._attempts,
        )
        return max(p.per_read, p.fastest)

    def _next_wake(self, now: float) -> float:
        wakes = [self.plan.next_at(), self._verify_at if self.plants else math.inf]
        wakes += [s.subscribe_at for s in self.plants.values() if s.subscribe_due]
        wakes += [s.check_at for s in self.plants.values() if s.healthy]
        wakes += self._suspects.values()
        if self._due(now):
            wakes.append(self._poll_next)
        else:
            silence = self.max_silence
            wakes += [heard + silence for _, heard in self.targets.values()]
        wake = min(wakes)
        return wake if math.isfinite(wake) else now + 3600.0

    async def _check(self, plant: str, now: float) -> None:
        """Read one thermostat of ``plant``: the one whose known state is oldest."""
        state = self.plants[plant]
        state.check_at = now + self.check_every()
        mine = [t for t in self.targets if t[0] == plant]
        if not mine:
            return
        stamps = {t: stamp for t in mine if (stamp := self.ledger.stamp(t)) is not None}
        if stamps:
            target = min(stamps, key=stamps.__getitem__)
        else:
            target = mine[state.check_turn % len(mine)]
            state.check_turn += 1
        self.checks += 1
        await self._read(target)

    async def _read(self, target: Target) -> None:
        record = self.targets[target]
        record[0] = self._clock.monotonic()
        stamp = self._clock.now()
        try:
            status = await self._smarther.get_status(*target)
        except Exception as exc:
            await self._failed(exc)
            return
        self.polls += 1
        if target not in self.targets:  # dropped by a discovery meanwhile
            return
        record[1] = self._clock.monotonic()
        known, newer = self.ledger.status(target), self.ledger.stamp(target)
        state = self.plants.get(target[0])
        if (
            known is not None
            and state is not None
            and state.healthy
            and (newer is None or newer <= stamp)
            and commanded(known) != commanded(status)
        ):
            self._suspects.setdefault(target, self._clock.monotonic() + GRACE)
        change = self.ledger.offer(target, status, stamp, "poll")
        if change is not None:
            self._emit(change)

    def _expire_suspects(self, now: float) -> None:
        """A state found by a poll that push did not bring within the grace: push is broken."""
        for target, until in list(self._suspects.items()):
            if until > now:
                continue
            del self._suspects[target]
            state = self.plants.get(target[0])
            if state is None or not state.healthy:
                continue
            state.healthy, state.broken_since = False, self._clock.now()
            state.breaks += 1
            state.subscribe_due, state.subscribe_at = True, -math.inf
            soon = now + self.check_every() / max(1, len(self.plants))
            for other in self.plants.values():  # an outage is rarely one plant's
                other.check_at = min(other.check_at, soon)
