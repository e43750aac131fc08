"""Discovery plant by plant: the plant list and each plant's topology, each with its own retry.

The plan says what is due and records what came back; the thermostat poller makes the calls.
A failed plant list keeps every plant known; a failed topology keeps what the plant had. Each
is tried again after :data:`RETRY_FIRST` seconds, then twice as long each time, up to
:data:`RETRY_LONGEST`; a success goes back to the normal rhythm (the list every
``discovery_interval``, every topology read again after each listing).

Ids are the server's: a plant or module id that cannot be put in a path (the route table's own
checks: a UUID for Smarther), or is not a string at all, is skipped and kept in
:attr:`Discovery.skipped` with the reason; a plant id with the ``bs_cloud_`` prefix of C2C
notifications is polled without it. The listings are read entry by entry (:data:`LISTING`,
:data:`TOPOLOGY`: the routes of the table, read for the ids only), so one entry the models
would refuse (an id that is null or an object, a module without a name) costs that entry, not
the whole plant list or topology.
"""

from __future__ import annotations

import heapq
import itertools
import math
import reprlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from .. import _plants
from .._routes import route

__all__ = [
    "LISTING",
    "RETRY_FIRST",
    "RETRY_LONGEST",
    "TOPOLOGY",
    "Discovery",
    "Modules",
    "Plan",
    "module_id",
    "plant_id",
]

#: The first wait (seconds) before a failed plant list or topology is tried again; it doubles.
RETRY_FIRST: Final = 10.0
#: The longest wait between two tries of a failed plant list or topology.
RETRY_LONGEST: Final = 3600.0

Target = tuple[str, str]

_STATUS = route("smarther", "get_status")
_TOPOLOGY = route("smarther", "get_topology")
_MODULE_CHECKS = tuple(p.check for p in _STATUS.params if p.name == "module_id")
_THERMOSTAT = "chronothermostat"


@attrs.frozen
class Modules:
    """A topology as discovery reads it: its module entries, as sent."""

    modules: list[Any] = attrs.field(factory=list)


#: ``list_plants``, its entries as sent (each is checked on its own).
LISTING: Final = route("smarther", "list_plants").reading(list[Any])
#: ``get_topology``, its module entries as sent.
TOPOLOGY: Final = _TOPOLOGY.reading(Modules)


def _usable(name: str, value: object, checks: Iterable[object]) -> str:
    for check in checks:
        check(name, value)  # type: ignore[operator]
    assert isinstance(value, str)
    return value


def plant_id(value: object) -> str:
    """The id to poll a plant listed as ``value`` (``bs_cloud_`` dropped); ValueError/TypeError."""
    return _plants.plant_id(value)


def module_id(value: object) -> str:
    """The id to poll a module listed as ``value``; ValueError/TypeError when it cannot be."""
    return _usable("module_id", value, _MODULE_CHECKS)


def _id_of(entry: object) -> object:
    """The ``id`` of a listing's entry, as sent (a bare value is taken as the id)."""
    return entry.get("id") if isinstance(entry, Mapping) else entry


def _shown(raw: object) -> str:
    """How an id the server sent is named in ``skipped``: a string as sent, the rest shortened."""
    return raw if isinstance(raw, str) else reprlib.repr(raw)


def _is_thermostat(entry: object) -> bool:
    device = entry.get("device") if isinstance(entry, Mapping) else None
    return isinstance(device, str) and device.lower() == _THERMOSTAT


@attrs.frozen
class Discovery:
    """Where the discovery of thermostats stands (``ThermostatPoller.discovery``).

    - ``listed``: the plant list was read at least once; ``list_failed``: its last read failed
      (it is tried again with backoff, the plants known are still polled);
    - ``plants``: the plants listed, by the id they are polled with;
    - ``pending``: plants whose topology is still to be read, for the first time or again after
      an error; ``retrying``: those of them whose last read failed;
    - ``skipped``: ids the server sent that cannot be polled, and why.
    """

    listed: bool
    list_failed: bool
    plants: tuple[str, ...]
    pending: tuple[str, ...]
    retrying: tuple[str, ...]
    skipped: Mapping[str, str]


@attrs.define
class _Plant:
    targets: list[Target] = attrs.Factory(list)
    due_at: float = -math.inf  # monotonic; inf: read, not due before the next listing
    retry: float = RETRY_FIRST
    failed: bool = False
    entry: int = -1  # the heap entry that is valid for this plant
    skipped: dict[str, str] = attrs.Factory(dict)


class Plan:
    """What discovery knows and what is due next (monotonic times)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.list_at = -math.inf
        self._list_retry = RETRY_FIRST
        self._listed = False
        self._list_failed = False
        self._plants: dict[str, _Plant] = {}
        self._skipped: dict[str, str] = {}  # plant ids listed that cannot be polled
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    # --------------------------------------------------------------------------- what is due

    def next_at(self) -> float:
        """When the next call is due: the plant list or a topology."""
        self._drop_stale()
        return min(self.list_at, self._heap[0][0]) if self._heap else self.list_at

    def due(self, now: float) -> bool:
        return self.next_at() <= now

    def list_due(self, now: float) -> bool:
        """Whether to read the plant list now: it is due and no topology is (the topologies a
        listing made due are read before the next listing, however short ``every`` is)."""
        self._drop_stale()
        return self.list_at <= now and not (self._heap and self._heap[0][0] <= now)

    def due_plants(self, now: float, limit: int) -> list[str]:
        """Up to ``limit`` plants whose topology is due (each comes back through a record)."""
        plants: list[str] = []
        while len(plants) < limit:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            plants.append(heapq.heappop(self._heap)[2])
        for plant in plants:
            self._plants[plant].entry = -1
        return plants

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            _, entry, plant = heap[0]
            state = self._plants.get(plant)
            if state is not None and state.entry == entry:
                return
            heapq.heappop(heap)

    def _schedule(self, plant: str, state: _Plant, at: float) -> None:
        state.due_at = at
        if math.isinf(at):
            state.entry = -1
            return
        state.entry = next(self._seq)
        heapq.heappush(self._heap, (at, state.entry, plant))

    # ------------------------------------------------------------------------ what came back

    def listed(self, entries: Iterable[object], now: float) -> list[Target]:
        """The plant list answered ``entries``: every topology is due; the targets of gone
        plants."""
        self._listed, self._list_failed = True, False
        self.list_at, self._list_retry = now + self.every, RETRY_FIRST
        self._skipped = {}
        plants: dict[str, _Plant] = {}
        for entry in entries:
            raw = _id_of(entry)
            try:
                plant = plant_id(raw)
            except (TypeError, ValueError) as exc:
                self._skipped[_shown(raw)] = f"plant id not polled: {exc}"
                continue
            if plant not in plants:
                plants[plant] = self._plants.get(plant) or _Plant()
        gone = [t for p, state in self._plants.items() if p not in plants for t in state.targets]
        self._plants = plants
        for plant, state in plants.items():
            self._schedule(plant, state, now)
        return gone

    def list_failed(self, now: float) -> None:
        self._list_failed = True
        self.list_at = now + self._list_retry
        self._list_retry = min(self._list_retry * 2, RETRY_LONGEST)

    def read(
        self, plant: str, modules: Iterable[object], now: float
    ) -> tuple[list[Target], list[Target]]:
        """``plant``'s topology lists ``modules`` (entries as sent): its chronothermostats are
        its targets. The targets added and removed."""
        state = self._plants.get(plant)
        if state is None:  # no longer listed
            return [], []
        targets: dict[Target, None] = {}
        state.skipped = {}
        for entry in modules:
            if not _is_thermostat(entry):
                continue
            raw = _id_of(entry)
            try:
                targets[plant, module_id(raw)] = None
            except (TypeError, ValueError) as exc:
                state.skipped[_shown(raw)] = f"module id of plant {plant} not polled: {exc}"
        old = dict.fromkeys(state.targets)
        state.targets = list(targets)
        state.retry, state.failed = RETRY_FIRST, False
        self._schedule(plant, state, math.inf)
        return [t for t in targets if t not in old], [t for t in old if t not in targets]

    def read_failed(self, plant: str, now: float) -> None:
        """``plant``'s topology could not be read: it keeps its targets and is tried again."""
        state = self._plants.get(plant)
        if state is None:
            return
        state.failed = True
        self._schedule(plant, state, now + state.retry)
        state.retry = min(state.retry * 2, RETRY_LONGEST)

    def again(self, plant: str) -> None:
        """``plant``'s read did not happen (cancelled, or the quota): still due as it was."""
        state = self._plants.get(plant)
        if state is not None:
            self._schedule(plant, state, state.due_at)

    # ----------------------------------------------------------------------------- the state

    def snapshot(self) -> Discovery:
        skipped = dict(self._skipped)
        for state in self._plants.values():
            skipped.update(state.skipped)
        pending = tuple(p for p, s in self._plants.items() if not math.isinf(s.due_at))
        return Discovery(
            listed=self._listed,
            list_failed=self._list_failed,
            plants=tuple(self._plants),
            pending=pending,
            retrying=tuple(p for p in pending if self._plants[p].failed),
            skipped=MappingProxyType(skipped),
        )
