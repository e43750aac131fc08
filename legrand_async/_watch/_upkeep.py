"""The watch's upkeep: what it knows of the fleet, discovery and subscriptions, the budget.

:class:`~._engine.Engine` adds push, the polls and the checks on top.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import anyio

from .._clock import Clock
from .._endpoints.smarther import SmartherAPI
from .._endpoints.smarther_extra import _url_key
from .._plants import plant_key
from .._poller import PollOptions, StatusChange
from .._poller._discovery import LISTING, TOPOLOGY, Plan
from .._poller._outcomes import Verdict, classify
from .._poller._pacing import spendable
from .._transport.ratelimit import Limits
from ..errors import LegrandError, QuotaExhausted
from ._health import RESUBSCRIBE_INTERVAL, PlantState, check_interval, max_silence
from ._ledger import Ledger, Target

__all__ = ["Upkeep"]

_LONGEST_RETRY = 3600.0


class Upkeep:
    """The fleet as discovered, each plant's subscription and push health, the budget."""

    def __init__(
        self,
        smarther: SmartherAPI,
        url: str,
        *,
        clock: Clock,
        rate_limit: Limits | None,
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
        self._sleeping: anyio.CancelScope | None = None
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
        return self._limit.snapshot().per_day if self._limit is not None else None

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
