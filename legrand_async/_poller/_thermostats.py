"""The thermostat poller: Smarther statuses, with the thermostats discovered plant by plant."""

from __future__ import annotations

import reprlib
import uuid
from collections.abc import Iterable
from functools import partial
from typing import Any, Literal, Unpack

import attrs

from .._clock import Clock
from .._endpoints.smarther import SmartherAPI
from .._transport.ratelimit import Limits
from ..models.smarther import ChronothermostatStatus
from . import _arguments
from ._discovery import LISTING, TOPOLOGY, Discovery, Plan, module_id, plant_id
from ._options import DISCOVERY_INTERVAL, PollKeywords, PollOptions, poll_options
from ._outcomes import Outcome, Tally, Verdict, run_all
from ._pacing import ATTEMPTS, Pace
from ._ring import BasePoller

__all__ = ["DISCOVERY_INTERVAL", "StatusChange", "ThermostatPoller", "thermostat_state"]

Target = tuple[str, str]


@attrs.frozen
class StatusChange:
    """Thermostat ``module_id`` of ``plant_id`` is now ``current``; it was ``previous``.

    ``previous`` is None on the first read. Only the state counts as a change (function, mode,
    setpoint, programs, activation time, load state, temperature, humidity, online), not the
    device clock or the timestamps of the measures. ``source`` says how it was learnt:
    ``"poll"`` (a read; always, from a poller) or ``"push"`` (a C2C notification, from
    :meth:`LegrandClient.watch_thermostats`).
    """

    plant_id: str
    module_id: str
    previous: ChronothermostatStatus | None
    current: ChronothermostatStatus
    source: Literal["push", "poll"] = "poll"

    @property
    def target(self) -> tuple[str, str]:
        """``(plant_id, module_id)``, as passed in ``targets``."""
        return (self.plant_id, self.module_id)


def thermostat_state(status: ChronothermostatStatus) -> tuple[object, ...]:
    """What a thermostat change is made of: everything but the clocks (``time``, timestamps)."""
    return (
        status.function,
        status.mode,
        status.setpoint,
        tuple(status.programs),
        status.activation_time,
        status.load_state,
        status.temperature,
        status.humidity,
        status.online,
    )


def _pair(item: Any) -> Target:
    """A ``(plant_id, module_id)`` target of the caller's, checked like a path."""
    try:
        plant, module = item
    except (TypeError, ValueError):
        shown = reprlib.repr(item)
        raise TypeError(f"targets are (plant_id, module_id) pairs, got {shown}") from None
    module = str(module) if isinstance(module, uuid.UUID) else module
    try:
        return plant_id(plant), module_id(module)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"targets: {reprlib.repr(item)}: {exc}") from None


class ThermostatPoller(BasePoller[Target, ChronothermostatStatus, StatusChange]):
    """Polls Smarther thermostats and yields a :class:`StatusChange` when one changes.

    Built by :meth:`LegrandClient.poll_thermostats`. Without ``targets`` it finds every
    chronothermostat plant by plant (``list_plants``, then ``get_topology`` of each plant:
    calls that count against the same budget): the thermostats of a plant are polled as soon
    as its topology is read, a plant whose topology fails is tried again on its own (see
    :attr:`discovery`), and the plants are listed again every ``discovery_interval`` seconds.
    The pace is ``options`` (a :class:`PollOptions`), its fields overridden by the keywords.
    """

    def __init__(
        self,
        smarther: SmartherAPI,
        targets: Iterable[Target] | None = None,
        *,
        clock: Clock,
        rate_limit: Limits | None,
        options: PollOptions | None = None,
        attempts: int = ATTEMPTS,
        **keywords: Unpack[PollKeywords],
    ) -> None:
        checked = poll_options(options, keywords)
        pairs: list[Target] = []
        if targets is not None:
            if isinstance(targets, str | bytes) or not isinstance(targets, Iterable):
                raise TypeError(
                    f"targets must be (plant_id, module_id) pairs or None, got "
                    f"{type(targets).__name__}"
                )
            pairs = _arguments.targets([_pair(item) for item in targets])
        self._smarther = smarther
        self._plan = Plan(checked.discovery_interval) if targets is None else None
        super().__init__(
            self._get_status,
            pairs,
            clock=clock,
            rate_limit=rate_limit,
            options=checked,
            key=thermostat_state,
            attempts=attempts,
        )

    @property
    def discovery(self) -> Discovery | None:
        """Where the discovery stands (None with explicit ``targets``)."""
        return self._plan.snapshot() if self._plan is not None else None

    async def _get_status(self, target: Target) -> ChronothermostatStatus:
        return await self._smarther.get_status(target[0], target[1])

    def _change(
        self,
        target: Target,
        previous: ChronothermostatStatus | None,
        current: ChronothermostatStatus,
    ) -> StatusChange:
        return StatusChange(target[0], target[1], previous, current)

    # ---------------------------------------------------------------------------- discovery

    def _discovery_due(self, now: float) -> bool:
        return self._plan is not None and self._plan.due(now)

    def _discovery_next(self) -> float:
        return super()._discovery_next() if self._plan is None else self._plan.next_at()

    async def _discover(self, p: Pace) -> None:
        plan = self._plan
        assert plan is not None
        if plan.list_due(self._clock.monotonic()):
            listing: list[Outcome | None] = [None]
            try:
                await run_all([partial(self._smarther._call, LISTING, (), None)], listing, 1)
            finally:
                tally = self._listed(listing[0])
        else:
            plants = plan.due_plants(self._clock.monotonic(), p.at_once(self._batch))
            topologies: list[Outcome | None] = [None] * len(plants)
            calls = [partial(self._smarther._call, TOPOLOGY, (plant,), None) for plant in plants]
            try:
                await run_all(calls, topologies, self._batch)
            finally:
                tally = self._read_topologies(plants, topologies)
        await self._conclude(tally)

    def _listed(self, outcome: Outcome | None) -> Tally:
        """Record the plant list: gone plants leave, every plant's topology is due."""
        plan = self._plan
        assert plan is not None
        tally = Tally()
        if outcome is None:  # cancelled: still due
            return tally
        verdict = self._judge(outcome, tally)
        now = self._clock.monotonic()
        if verdict is Verdict.VALUE:
            self._drop_targets(plan.listed(outcome.value, now))
        elif verdict is Verdict.COUNTED:
            plan.list_failed(now)
        return tally

    def _read_topologies(self, plants: list[str], outcomes: list[Outcome | None]) -> Tally:
        """Record the topologies: each plant's thermostats join (or leave) the ring."""
        plan = self._plan
        assert plan is not None
        tally = Tally()
        now = self._clock.monotonic()
        for plant, outcome in zip(plants, outcomes, strict=True):
            verdict = None if outcome is None else self._judge(outcome, tally)
            if verdict is Verdict.VALUE:
                assert outcome is not None
                added, removed = plan.read(plant, outcome.value.modules, now)
                self._drop_targets(removed)
                self._add_targets(added)
            elif verdict is Verdict.COUNTED:
                plan.read_failed(plant, now)
            else:  # cancelled, the quota, or raised: still due
                plan.again(plant)
        return tally
