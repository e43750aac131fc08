"""The watch's loop: discovery, subscriptions, polls and checks, each call within the budget.

One task runs :meth:`Engine.run` (calls one at a time: a watch makes few); the push task hands
each event to :meth:`Engine.pushed`. Both give their changes to ``emit``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Final

import anyio.lowlevel

from .._clock import Clock
from .._endpoints.smarther import SmartherAPI
from .._endpoints.smarther_extra import _url_key
from .._plants import plant_key
from .._poller import PollOptions, StatusChange
from .._poller._discovery import LISTING, TOPOLOGY, Plan, module_id, plant_id
from .._poller._outcomes import Verdict, classify
from .._poller._pacing import pace, spendable
from .._transport.ratelimit import RateLimit
from ..errors import LegrandError, QuotaExhausted
from ..webhooks import ThermostatEvent
from ._health import GRACE, RESUBSCRIBE_INTERVAL, PlantState, check_interval, max_silence
from ._ledger import Ledger, Target, commanded

__all__ = ["Engine"]

#: Calls ``ensure_subscription`` may make (list, subscribe; after a 409: list, remove, subscribe).
_SUBSCRIBE_CALLS: Final = 5
_LONGEST_RETRY: Final = 3600.0


class Engine:
    """What the watch knows and does; see :mod:`legrand_async._watch`."""

    def __init__(
        self,
        smarther: SmartherAPI,
        url: str,
        *,
        clock: Clock,
        rate_limit: RateLimit | None,
        options: PollOptions,
        attempts: int,
        silence: float | None,
        emit: Callable[[StatusChange], None],
    ) -> None:
        self._smarther, self._url, self._clock, self._limit = smarther, url, clock, rate_limit
        self._options, self._attempts, self._silence, self._emit = options, attempts, silence, emit
        self.plan = Plan(options.discovery_interval)
        self.ledger = Ledger()
        self.plants: dict[str, PlantState] = {}
        self.targets: dict[Target, list[float]] = {}  # [last poll, last heard] (monotonic)
        self._suspects: dict[Target, float] = {}  # a poll found what push never said: until
        self._poll_next = -math.inf
        self._verify_at = clock.monotonic() + RESUBSCRIBE_INTERVAL
        self.push_events = 0
        self.polls = 0
        self.checks = 0
        self.skipped = 0  # push events whose ids cannot be a thermostat's
        self.errors: Counter[str] = Counter()
        self.last_error: LegrandError | None = None

    # ------------------------------------------------------------------------------ knowledge

    @property
    def max_silence(self) -> float:
        if self._silence is not None:
            return self._silence
        return max_silence(len(self.targets), self._per_day())

    def check_every(self) -> float:
        every = check_interval(len(self.plants), self._per_day())
        if any(not s.healthy for s in self.plants.values()):
            every = max(600.0, every / max(1, len(self.plants)))
        return every

    def _per_day(self) -> int | None:
        return self._limit.per_day if self._limit is not None else None

    def calls_left(self) -> int | None:
        quota = self._limit.snapshot() if self._limit is not None else None
        if quota is None or quota.per_day is None or quota.remaining_today is None:
            return None
        return max(0, math.floor(spendable(quota.remaining_today, quota.per_day, self._reserve)))

    @property
    def _reserve(self) -> float:
        return self._options.reserve

    def _affords(self, calls: int) -> bool:
        left = self.calls_left()
        return left is None or left >= calls * self._attempts

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
                await self._clock.sleep(max(0.0, self._next_wake(now) - now))

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

    async def _wait_for_reset(self) -> None:
        quota = self._limit.snapshot() if self._limit is not None else None
        seconds = 3600.0
        if quota is not None:
            seconds = (quota.resets_at - self._clock.now()).total_seconds()
        await self._clock.sleep(max(1.0, seconds))

    async def _failed(self, exc: Exception) -> Verdict:
        """Count what the watch outlives, wait out a spent quota, raise what needs the user."""
        verdict = classify(exc)
        if verdict is Verdict.FATAL:
            raise exc
        assert isinstance(exc, LegrandError)
        self.errors[type(exc).__name__] += 1
        self.last_error = exc
        if verdict is Verdict.QUOTA:
            assert isinstance(exc, QuotaExhausted)
            resets = exc.resets_at
            seconds = (resets - self._clock.now()).total_seconds() if resets else 3600.0
            await self._clock.sleep(max(1.0, seconds))
        return verdict

    # ------------------------------------------------------------------------- the calls

    async def _discover(self, now: float) -> None:
        plan = self.plan
        if plan.list_due(now):
            try:
                entries = await self._smarther._call(LISTING, (), None)
            except Exception as exc:
                if await self._failed(exc) is Verdict.COUNTED:
                    plan.list_failed(self._clock.monotonic())
                return
            for target in plan.listed(entries, self._clock.monotonic()):
                self._drop(target)
            self._sync_plants()
            return
        for plant in plan.due_plants(now, 1):
            try:
                topology = await self._smarther._call(TOPOLOGY, (plant,), None)
            except Exception as exc:
                plan.again(plant)
                if await self._failed(exc) is Verdict.COUNTED:
                    plan.read_failed(plant, self._clock.monotonic())
                continue
            added, removed = plan.read(plant, topology.modules, self._clock.monotonic())
            for target in removed:
                self._drop(target)
            mono = self._clock.monotonic()
            for target in added:
                self.targets.setdefault(target, [-math.inf, mono])

    def _sync_plants(self) -> None:
        """After a listing: gone plants leave, every plant is to be subscribed (again)."""
        listed = self.plan.snapshot().plants
        for gone in [p for p in self.plants if p not in listed]:
            del self.plants[gone]
        new = [p for p in listed if p not in self.plants]
        now, every = self._clock.monotonic(), self.check_every()
        for i, plant in enumerate(new):  # first checks spread over one interval
            self.plants[plant] = PlantState(check_at=now + every * (i + 1) / len(new))
        for state in self.plants.values():
            state.subscribe_due, state.subscribe_at = True, -math.inf

    def _drop(self, target: Target) -> None:
        self.targets.pop(target, None)
        self._suspects.pop(target, None)
        self.ledger.forget(target)

    async def _subscribe(self, plant: str) -> None:
        state = self.plants[plant]
        try:
            sid = await self._smarther.ensure_subscription(plant, self._url)
        except (TypeError, ValueError):  # an id the server sent that no path can carry
            state.subscribe_due = False
            self.errors["BadSubscriptionId"] += 1
            return
        except Exception as exc:
            await self._failed(exc)
            state.subscribe_at = self._clock.monotonic() + state.subscribe_retry
            state.subscribe_retry = min(_LONGEST_RETRY, state.subscribe_retry * 2)
            return
        state.subscription_id, state.subscribe_due, state.subscribe_retry = sid, False, 60.0

    async def _verify(self) -> None:
        """One listing of the subscriptions: plants no longer subscribed to the URL are again."""
        try:
            subscriptions = await self._smarther._list()
        except Exception as exc:
            await self._failed(exc)
            return
        url = _url_key(self._url)
        ours = {plant_key(s.plant_id) for s in subscriptions if _url_key(s.endpoint_url) == url}
        for plant, state in self.plants.items():
            if plant_key(plant) not in ours:
                state.subscribe_due, state.subscribe_at = True, -math.inf

    async def _check(self, plant: str, now: float) -> None:
        """Read one thermostat of ``plant``: the one whose known state is oldest."""
        state = self.plants[plant]
        state.check_at = now + self.check_every()
        mine = [t for t in self.targets if t[0] == plant]
        if not mine:
            return
        known = [t for t in mine if self.ledger.stamp(t) is not None]
        if known:
            target = min(known, key=lambda t: self.ledger.stamp(t))  # type: ignore[arg-type, return-value]
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
