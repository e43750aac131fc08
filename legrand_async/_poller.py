"""Polling within the quota: statuses read in a fair ring, changes yielded, errors counted.

::

    async with client.poll_thermostats() as poller:
        async for change in poller:
            print(change.plant_id, change.module_id, change.previous, change.current)

A poller is an async iterator (and an async context manager). It keeps no task of its own:
each ``__anext__`` polls the next batch of targets concurrently inside a short-lived task group,
buffers what changed and returns the first change; when nothing is due it sleeps on the client's
clock. So cancelling the consumer, breaking out of ``async for`` or leaving ``async with`` leaves
nothing running.

Pacing. The targets form a ring, polled in the same order every cycle, ``concurrency`` at a time,
with the batches spread evenly over the cycle's ``interval``: every target is read once per
interval (not a burst per cycle, then a long wait), and a pause (quota, errors, cancellation)
resumes the ring where it stopped, so no target is always the one left out. The first cycle runs
at once (as fast as the per-second limit allows) so the first changes describe every target.
Without a per-second limit, batches due within the same second are read in one step. Without an
explicit ``interval`` it comes from the budget and is worked out again before every batch:

- with a daily quota (the client's :class:`RateLimit` with ``per_day``): the calls left today
  minus ``reserve`` of the day's quota (kept for the user's own commands) are spread evenly
  over the time to the reset: ``interval = time_to_reset / (spendable / targets)``. The reserve
  is a share of ``per_day``, not of what is left, so recomputing it before every batch spends the
  budget evenly and still leaves the reserve at the reset (a share of what is left would shrink
  the reserve to nothing by the end of the day). When nothing is spendable the poller waits for
  the reset. The time to the reset counts as at least an hour, so that a poller started just
  before midnight does not spend the day's leftover in a burst;
- without one: :data:`DEFAULT_INTERVAL` (300 s, Home Assistant's default scan interval);
- never faster than ``per_second`` allows (``targets / per_second``).

Errors. A :class:`QuotaExhausted` is counted and the poller sleeps until its ``resets_at``, then
goes on with the targets it could not read. Other :class:`LegrandError` (network failures, 5xx,
408, 486, 404 for an offline device, a body that does not fit the model...) are counted in
``.errors`` (by class name) and kept in ``.last_error``; the target keeps its previous value and
is read again next cycle. Errors that need the user (:class:`AuthError`, 401 ``Unauthorized``)
and anything that is not a ``LegrandError`` (a bug) are raised from the iteration.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import Any, Final, Generic, Self, TypeVar

import anyio
import anyio.lowlevel
import attrs

from ._clock import Clock
from ._endpoints.smarther import SmartherAPI
from ._transport.ratelimit import RateLimit
from .errors import AuthError, LegrandError, QuotaExhausted, Unauthorized
from .models.smarther import ChronothermostatStatus

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_INTERVAL",
    "DISCOVERY_INTERVAL",
    "Change",
    "Poller",
    "StatusChange",
    "ThermostatPoller",
    "thermostat_state",
]

#: Seconds between two reads of a target when neither ``interval`` nor a daily quota says.
DEFAULT_INTERVAL: Final = 300.0
#: Targets read at once, unless ``concurrency=`` or the limiter's ``max_concurrency`` says.
DEFAULT_CONCURRENCY: Final = 8
#: Seconds between two discoveries of the thermostats (plants and topologies).
DISCOVERY_INTERVAL: Final = 86400.0
#: The first and the longest wait before trying a failed discovery again (it doubles).
_RETRY_FIRST: Final = 60.0
_RETRY_LONGEST: Final = 3600.0
#: Batches read in one step at most, when they are due within _GRAIN seconds.
_CHUNK: Final = 8
_GRAIN: Final = 1.0
#: The time to the reset counts as at least this (seconds): no burst to spend a day's leftover.
_HORIZON: Final = 3600.0
#: Errors the poller cannot outlive: they need the user (a new login, a valid key).
_FATAL: Final = (AuthError, Unauthorized)

T = TypeVar("T", bound=Hashable)
V = TypeVar("V")
C = TypeVar("C")

#: Never equal to anything but itself: "no value yet".
_NONE: Final = object()
#: The outcome of one read: (True, value) or (False, exception).
_Outcome = tuple[bool, Any]


@attrs.frozen
class Change(Generic[T, V]):
    """``target`` was read as ``current``; it was ``previous`` (None on the first read)."""

    target: T
    previous: V | None
    current: V


@attrs.frozen
class StatusChange:
    """Thermostat ``module_id`` of ``plant_id`` is now ``current``; it was ``previous``.

    ``previous`` is None on the first read. Only the state counts as a change (function, mode,
    setpoint, programs, activation time, load state, temperature, humidity, online), not the
    device clock or the timestamps of the measures.
    """

    plant_id: str
    module_id: str
    previous: ChronothermostatStatus | None
    current: ChronothermostatStatus

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


class _BasePoller(Generic[T, V, C]):
    """The machinery: the ring, the pacing, the batches, the change detection, the counters."""

    def __init__(
        self,
        fetch: Callable[[T], Awaitable[V]],
        targets: Iterable[T] | None,
        *,
        clock: Clock,
        rate_limit: RateLimit | None,
        interval: float | None,
        reserve: float,
        concurrency: int | None,
        key: Callable[[V], object] | None,
        discovery_interval: float = DISCOVERY_INTERVAL,
    ) -> None:
        if interval is not None and not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if not 0 <= reserve < 1:
            raise ValueError(f"reserve is a share of the daily quota, 0..1, got {reserve!r}")
        if concurrency is not None and (isinstance(concurrency, bool) or concurrency < 1):
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
        if not discovery_interval > 0:
            raise ValueError(f"discovery_interval must be > 0, got {discovery_interval!r}")
        self._fetch = fetch
        self._clock = clock
        self._limit = rate_limit
        self._explicit = interval
        self._reserve = reserve
        self._key = key
        self._discovery_interval = discovery_interval
        if concurrency is None:
            concurrency = DEFAULT_CONCURRENCY
            if rate_limit is not None and rate_limit.max_concurrency:
                concurrency = rate_limit.max_concurrency
        if rate_limit is not None and rate_limit.per_second:  # a batch fits in one second
            concurrency = min(concurrency, max(1, math.floor(rate_limit.per_second)))
        self._batch = concurrency
        self._discovers = targets is None
        self._targets: list[T] = [] if targets is None else list(dict.fromkeys(targets))
        if targets is not None and not self._targets:
            raise ValueError("targets is empty: there is nothing to poll")
        self._queue: deque[T] = deque()
        self._values: dict[T, V] = {}
        self._keys: dict[T, object] = {}  # key(value) of each value, with a key
        self._buffer: deque[C] = deque()
        self._discover_at = -math.inf  # monotonic
        self._retry = _RETRY_FIRST
        self._next_at = -math.inf  # monotonic: when the next batch is due
        self._started_at = 0.0  # monotonic: when the current cycle began
        self._burst = True  # the first cycle runs at once
        self._interval: float | None = None
        self._running = False
        self._closed = False
        #: Reads done (successful or failed with a counted error; not those refused for quota).
        self.polls = 0
        #: Completed cycles (every target read once).
        self.cycles = 0
        #: Errors met and outlived, by class name (``QuotaExhausted`` included).
        self.errors: Counter[str] = Counter()
        #: The latest error counted in ``errors``.
        self.last_error: LegrandError | None = None

    # ------------------------------------------------------------------------- public state

    @property
    def interval(self) -> float | None:
        """Seconds between two reads of a target, as last worked out (None before the first)."""
        return self._interval

    @property
    def concurrency(self) -> int:
        """Targets read at once."""
        return self._batch

    @property
    def targets(self) -> tuple[T, ...]:
        """What is polled (for thermostats: as last discovered)."""
        return tuple(self._targets)

    def value(self, target: T) -> V | None:
        """The latest value read for ``target`` (None before its first read)."""
        return self._values.get(target)

    # ----------------------------------------------------------------------------- protocol

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> C:
        if self._running:
            raise RuntimeError("this poller is already being iterated by another task")
        self._running = True
        try:
            while not self._buffer:
                if self._closed:
                    raise StopAsyncIteration
                await self._step()
            return self._buffer.popleft()
        finally:
            self._running = False

    async def aclose(self) -> None:
        """Stop: the iteration ends, buffered changes and stored values are dropped."""
        self._closed = True
        self._buffer.clear()
        self._values.clear()
        self._keys.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} targets={len(self._targets)} interval={self._interval!r} "
            f"polls={self.polls} errors={sum(self.errors.values())}>"
        )

    # --------------------------------------------------------------------- for the subclasses

    def _change(self, target: T, previous: V | None, current: V) -> C:
        raise NotImplementedError

    async def _discover(self) -> tuple[list[T], bool]:
        """The targets found, and whether the discovery was complete (no error on the way)."""
        raise NotImplementedError

    def _count(self, error: LegrandError) -> None:
        """Count an error the poller outlives."""
        self.errors[type(error).__name__] += 1
        self.last_error = error

    # ------------------------------------------------------------------------------ the loop

    async def _step(self) -> None:
        """One move: discover, wait, or read a batch (the caller loops until something changed)."""
        await anyio.lowlevel.checkpoint()  # let cancellation in, even on a clock that never sleeps
        clock = self._clock
        if self._discovers and clock.monotonic() >= self._discover_at:
            await self._rediscover()
            return
        if not self._targets:  # nothing found (yet): look again when the discovery is due
            await clock.sleep(max(1.0, self._discover_at - clock.monotonic()))
            return
        if not self._queue:
            self._new_cycle()
        now = clock.monotonic()
        if now < self._next_at:
            await clock.sleep(self._next_at - now)
            if self._discovers and clock.monotonic() >= self._discover_at:
                return  # discover first
        per_call, affordable, limited = self._pace()
        if affordable < 1:  # the budget is spent (all but the reserve): wait for the reset
            quota = self._limit.snapshot() if self._limit is not None else None
            await self._sleep_until(quota.resets_at if quota is not None else None)
            return
        # Reads go ``concurrency`` at a time. Without a per-second limit, batches due less than
        # a second apart are read in one step (up to _CHUNK of them, by the same workers): the
        # pace keeps a one-second grain and far fewer tasks are started.
        chunk = self._batch
        if not limited:
            chunk *= max(1, min(_CHUNK, math.floor(_GRAIN / (chunk * per_call or 1e-9))))
        size = min(chunk, len(self._queue), affordable)
        started = clock.monotonic()
        await self._poll(list(islice(self._queue, size)))
        self._next_at = started + size * per_call
        if not self._queue:
            self.cycles += 1
            if self._burst:  # the first cycle ran at once: the next begins an interval after it
                self._burst = False
                self._next_at = max(self._next_at, self._started_at + (self._interval or 0.0))

    def _new_cycle(self) -> None:
        self._queue.extend(self._targets)
        self._started_at = self._clock.monotonic()

    def _pace(self) -> tuple[float, int, bool]:
        """Seconds per read, reads affordable now, whether per second; sets ``interval``."""
        n = len(self._targets)
        quota = self._limit.snapshot() if self._limit is not None else None
        fastest = 1.0 / quota.per_second if quota is not None and quota.per_second else 0.0
        affordable = n
        if self._explicit is not None:
            interval = self._explicit
        elif quota is None or quota.per_day is None or quota.remaining_today is None:
            interval = max(DEFAULT_INTERVAL, n * fastest)
        else:
            spendable = quota.remaining_today - self._reserve * quota.per_day
            if spendable < 1:
                return 0.0, 0, False
            to_reset = max(_HORIZON, (quota.resets_at - self._clock.now()).total_seconds())
            interval = max(to_reset * n / spendable, n * fastest)
            affordable = math.floor(spendable)
            if self._burst and affordable < len(self._queue):
                self._burst = False  # a first cycle at once would eat the reserve: pace it
        self._interval = interval
        return (fastest if self._burst else interval / n), affordable, fastest > 0

    async def _sleep_until(self, moment: datetime | None) -> None:
        """Sleep until ``moment`` (at least a second; an hour when it is unknown)."""
        if moment is None:
            await self._clock.sleep(_RETRY_LONGEST)
            return
        seconds = (moment - self._clock.now()).total_seconds()
        await self._clock.sleep(max(1.0, seconds))

    async def _poll(self, batch: list[T]) -> None:
        """Read ``batch``, ``concurrency`` at a time; then record it (also when cancelled)."""
        results: list[_Outcome | None] = [None] * len(batch)
        fetch = self._fetch
        work = iter(enumerate(batch))  # shared by the workers

        async def worker() -> None:
            for i, target in work:
                try:
                    results[i] = (True, await fetch(target))
                except Exception as exc:  # recorded below: counted, waited out or raised
                    results[i] = (False, exc)

        failure: BaseException | None = None
        resets: tuple[datetime | None] | None = None
        try:
            if len(batch) == 1 or self._batch == 1:
                await worker()
            else:
                async with anyio.create_task_group() as tg:
                    for _ in range(min(self._batch, len(batch))):
                        tg.start_soon(worker, name="legrand_async poll")
        finally:
            failure, resets = self._record(batch, results)
        if failure is not None:
            raise failure
        if resets is not None:
            await self._sleep_until(resets[0])

    def _record(
        self, batch: list[T], results: list[_Outcome | None]
    ) -> tuple[BaseException | None, tuple[datetime | None] | None]:
        """Store the values, buffer the changes, count the errors; put back what was not read.

        Returns the first error to raise, and ``(resets_at,)`` when the quota is exhausted.
        """
        key = self._key
        values = self._values
        keys = self._keys
        again: list[T] = []
        failure: BaseException | None = None
        resets: tuple[datetime | None] | None = None
        for target, result in zip(batch, results, strict=True):
            if result is None:  # cancelled before it was read
                again.append(target)
                continue
            ok, payload = result
            if ok:
                self.polls += 1
                if key is not None:  # the previous value's key is kept: computed once
                    new = key(payload)
                    changed = keys.get(target, _NONE) != new
                    keys[target] = new
                else:
                    changed = values.get(target, _NONE) != payload
                if changed:
                    previous = values.get(target)
                    self._buffer.append(self._change(target, previous, payload))
                values[target] = payload
            elif isinstance(payload, QuotaExhausted):
                self._count(payload)
                again.append(target)
                if resets is None or (
                    payload.resets_at is not None
                    and (resets[0] is None or payload.resets_at > resets[0])
                ):
                    resets = (payload.resets_at,)
            elif isinstance(payload, LegrandError) and not isinstance(payload, _FATAL):
                self.polls += 1
                self._count(payload)
            else:
                again.append(target)
                if failure is None:
                    failure = payload
        if not self._closed:
            queue = self._queue
            for _ in batch:
                queue.popleft()
            queue.extendleft(reversed(again))
        return failure, resets

    # ---------------------------------------------------------------------------- discovery

    async def _rediscover(self) -> None:
        clock = self._clock
        try:
            found, complete = await self._discover()
        except QuotaExhausted as exc:
            self._count(exc)
            await self._sleep_until(exc.resets_at)
            return
        except _FATAL:
            raise
        except LegrandError as exc:
            self._count(exc)
            self._retry_later()
            return
        self._set_targets(found)
        if complete:
            self._retry = _RETRY_FIRST
            self._discover_at = clock.monotonic() + self._discovery_interval
        else:
            self._retry_later()

    def _retry_later(self) -> None:
        self._discover_at = self._clock.monotonic() + self._retry
        self._retry = min(self._retry * 2, _RETRY_LONGEST)

    def _set_targets(self, found: Sequence[T]) -> None:
        """Poll ``found`` from now on: new targets join the current cycle, gone ones leave."""
        found = list(dict.fromkeys(found))
        keep = set(found)
        old = set(self._targets)
        if keep == old:
            return
        self._targets = found
        for target in old - keep:
            self._values.pop(target, None)
            self._keys.pop(target, None)
        self._queue = deque(t for t in self._queue if t in keep)
        if self._queue:  # a cycle is under way: the new targets are read in it
            self._queue.extend(t for t in found if t not in old)


class Poller(_BasePoller[T, V, Change[T, V]]):
    """Polls ``fetch(target)`` for each target and yields a :class:`Change` when a value changes.

    Built by :meth:`LegrandClient.poll`. Values compare with ``key(value)`` when a ``key`` is
    given (leave out what changes on every read), else with ``==``.
    """

    def __init__(
        self,
        fetch: Callable[[T], Awaitable[V]],
        targets: Iterable[T],
        *,
        clock: Clock,
        rate_limit: RateLimit | None,
        interval: float | None = None,
        reserve: float = 0.2,
        concurrency: int | None = None,
        key: Callable[[V], object] | None = None,
    ) -> None:
        if targets is None:
            raise TypeError("targets is required")
        super().__init__(
            fetch,
            targets,
            clock=clock,
            rate_limit=rate_limit,
            interval=interval,
            reserve=reserve,
            concurrency=concurrency,
            key=key,
        )

    def _change(self, target: T, previous: V | None, current: V) -> Change[T, V]:
        return Change(target, previous, current)


class ThermostatPoller(_BasePoller[tuple[str, str], ChronothermostatStatus, StatusChange]):
    """Polls Smarther thermostats and yields a :class:`StatusChange` when one changes.

    Built by :meth:`LegrandClient.poll_thermostats`. Without ``targets`` it finds every
    chronothermostat of every plant (``list_plants`` and ``get_topology``, calls that count
    against the same budget) and looks again every ``discovery_interval`` seconds.
    """

    def __init__(
        self,
        smarther: SmartherAPI,
        targets: Iterable[tuple[str, str]] | None = None,
        *,
        clock: Clock,
        rate_limit: RateLimit | None,
        interval: float | None = None,
        reserve: float = 0.2,
        concurrency: int | None = None,
        discovery_interval: float = DISCOVERY_INTERVAL,
    ) -> None:
        if targets is not None:
            targets = [(str(plant_id), str(module_id)) for plant_id, module_id in targets]
        self._smarther = smarther
        super().__init__(
            self._get_status,
            targets,
            clock=clock,
            rate_limit=rate_limit,
            interval=interval,
            reserve=reserve,
            concurrency=concurrency,
            key=thermostat_state,
            discovery_interval=discovery_interval,
        )

    async def _get_status(self, target: tuple[str, str]) -> ChronothermostatStatus:
        return await self._smarther.get_status(target[0], target[1])

    def _change(
        self,
        target: tuple[str, str],
        previous: ChronothermostatStatus | None,
        current: ChronothermostatStatus,
    ) -> StatusChange:
        return StatusChange(target[0], target[1], previous, current)

    async def _discover(self) -> tuple[list[tuple[str, str]], bool]:
        plants = await self._smarther.list_plants()
        ids = list(dict.fromkeys(plant.id for plant in plants))
        topologies: list[_Outcome | None] = [None] * len(ids)

        async def read(i: int, plant_id: str) -> None:
            try:
                topologies[i] = (True, await self._smarther.get_topology(plant_id))
            except Exception as exc:  # counted (or raised) below
                topologies[i] = (False, exc)

        for start in range(0, len(ids), self._batch):
            async with anyio.create_task_group() as tg:
                for i in range(start, min(start + self._batch, len(ids))):
                    tg.start_soon(read, i, ids[i])
        found: list[tuple[str, str]] = []
        complete = True
        for plant_id, outcome in zip(ids, topologies, strict=True):
            assert outcome is not None
            ok, payload = outcome
            if ok:
                found += [
                    (plant_id, module.id)
                    for module in payload.modules
                    if module.device.lower() == "chronothermostat"
                ]
                continue
            if isinstance(payload, LegrandError) and not isinstance(payload, _FATAL):
                if isinstance(payload, QuotaExhausted):
                    raise payload  # waited out by the caller; the discovery starts over
                self._count(payload)
                complete = False  # keep what this plant had; look again soon
                found += [t for t in self._targets if t[0] == plant_id]
                continue
            raise payload
        return found, complete
