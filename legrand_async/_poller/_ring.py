"""The ring: targets read in turn at the pace of the budget, changes buffered, errors counted.

The machinery every poller shares (:class:`BasePoller`); :class:`~._generic.Poller` and
:class:`~._thermostats.ThermostatPoller` say what a target is and what a change looks like.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from datetime import datetime
from functools import partial
from itertools import islice
from typing import Final, Generic, Self, TypeVar

import anyio.lowlevel

from .. import _checks
from .._clock import Clock
from .._closing import AsyncClosing
from .._transport.ratelimit import Limits
from ..errors import LegrandError
from ._options import PollOptions
from ._outcomes import Outcome, Tally, Verdict, run_all
from ._pacing import ATTEMPTS, Pace, pace

__all__ = ["DEFAULT_CONCURRENCY", "BasePoller"]

#: Targets read at once, unless ``concurrency=`` or the limiter's ``max_concurrency`` says.
DEFAULT_CONCURRENCY: Final = 8
#: Batches read in one step at most, when they are due within _GRAIN seconds.
_CHUNK: Final = 8
_GRAIN: Final = 1.0
#: A read due within this many seconds is due now (clocks that round).
_EPSILON: Final = 1e-6
#: How long to wait for a quota whose reset is unknown (seconds).
_UNKNOWN_RESET: Final = 3600.0

T = TypeVar("T", bound=Hashable)
V = TypeVar("V")
C = TypeVar("C")

#: Never equal to anything but itself: "no value yet".
_NONE: Final = object()


class BasePoller(AsyncClosing, Generic[T, V, C]):
    """The machinery: the ring, the pacing, the batches, the change detection, the counters.

    A subclass that discovers its targets overrides the three ``_discovery`` hooks.
    """

    def __init__(
        self,
        fetch: Callable[[T], Awaitable[V]],
        targets: list[T],
        *,
        clock: Clock,
        rate_limit: Limits | None,
        options: PollOptions,
        key: Callable[[V], object] | None,
        attempts: int = ATTEMPTS,
    ) -> None:
        if not callable(fetch):
            raise TypeError(f"fetch must be a coroutine function, got {type(fetch).__name__}")
        if key is not None and not callable(key):
            raise TypeError(f"key must be callable or None, got {type(key).__name__}")
        self.options = options  #: as given (``concurrency`` below is what is used)
        self._explicit = options.interval
        self._reserve = options.reserve
        self._share = options.share
        concurrency = options.concurrency
        if concurrency is None:
            concurrency = DEFAULT_CONCURRENCY
            if rate_limit is not None and rate_limit.max_concurrency:
                concurrency = rate_limit.max_concurrency
        concurrency = _checks.count("concurrency", concurrency)
        self._attempts = _checks.count("attempts", attempts)
        if rate_limit is not None and rate_limit.per_second:  # a batch fits in one second
            concurrency = min(concurrency, max(1, math.floor(rate_limit.per_second)))
        self._fetch = fetch
        self._clock = clock
        self._limit = rate_limit
        self._key = key
        self._batch = concurrency
        self._targets: dict[T, None] = dict.fromkeys(targets)
        self._queue: deque[T] = deque(targets)  # the reads still owed in this cycle
        self._fresh: set[T] = set(targets)  # targets never read: read at once when they fit
        self._values: dict[T, V] = {}
        self._keys: dict[T, object] = {}  # key(value) of each value, with a key
        self._buffer: deque[C] = deque()
        self._next_at = -math.inf  # monotonic: when the ring's next read is due
        self._fresh_at = -math.inf  # monotonic: when the next first read may go (per second)
        self._started_at: float | None = None  # monotonic: when the current cycle began
        self._turn = False  # discovery's turn, when a poll is due too
        self._interval: float | None = None
        self._running = False
        self._scope: anyio.CancelScope | None = None  # the running __anext__'s
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
        """What is polled (for thermostats: as discovered so far)."""
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
            with anyio.CancelScope() as self._scope:  # aclose() from another task ends it
                while not self._buffer and not self._closed:
                    await self._step()
        finally:
            self._running, self._scope = False, None
        if self._closed:
            raise StopAsyncIteration
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Stop: the iteration ends (a task waiting in ``__anext__`` at once), buffered changes
        and stored values are dropped."""
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()
        self._buffer.clear()
        self._values.clear()
        self._keys.clear()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} targets={len(self._targets)} interval={self._interval!r} "
            f"polls={self.polls} errors={sum(self.errors.values())}>"
        )

    # --------------------------------------------------------------------- for the subclasses

    def _change(self, target: T, previous: V | None, current: V) -> C:
        raise NotImplementedError

    def _discovery_due(self, now: float) -> bool:
        """Whether a discovery call is due at ``now`` (monotonic)."""
        return False

    def _discovery_next(self) -> float:
        """When the next discovery call is due (monotonic; inf: never)."""
        return math.inf

    async def _discover(self, p: Pace) -> None:
        """Make the discovery calls due, as many at once as ``p`` allows."""
        raise NotImplementedError

    def _judge(self, outcome: Outcome, tally: Tally) -> Verdict:
        """Count what is counted and note what must be raised or waited: every call's outcome."""
        if outcome.verdict is Verdict.COUNTED or outcome.verdict is Verdict.QUOTA:
            assert isinstance(outcome.error, LegrandError)
            self.errors[type(outcome.error).__name__] += 1
            self.last_error = outcome.error
        tally.add(outcome)
        return outcome.verdict

    async def _conclude(self, tally: Tally) -> None:
        """After a batch is recorded: raise what needs the user, wait out a spent quota."""
        fatal = tally.fatal
        if isinstance(fatal, StopAsyncIteration | StopIteration):  # would end the loop unseen
            raise RuntimeError(f"a call of the poller raised {type(fatal).__name__}") from fatal
        if fatal is not None:
            raise fatal
        if tally.quota:
            await self._sleep_until(tally.resets_at)

    def _add_targets(self, new: Iterable[T]) -> None:
        """Poll ``new`` from now on: read at once (when they fit the budget), then in the ring."""
        added = [t for t in dict.fromkeys(new) if t not in self._targets]
        for target in added:
            self._targets[target] = None
        self._fresh.update(added)
        self._queue.extendleft(reversed(added))

    def _drop_targets(self, gone: Iterable[T]) -> None:
        """Stop polling ``gone``: their values are forgotten."""
        drop = {t for t in gone if t in self._targets}
        if not drop:
            return
        for target in drop:
            del self._targets[target]
            self._values.pop(target, None)
            self._keys.pop(target, None)
            self._fresh.discard(target)
        self._queue = deque(t for t in self._queue if t not in drop)

    # ------------------------------------------------------------------------------ the loop

    async def _step(self) -> None:
        """One move: discover, read a batch, close a cycle or wait for what is due next."""
        await anyio.lowlevel.checkpoint()  # let cancellation in, even on a clock that never sleeps
        clock = self._clock
        now = clock.monotonic()
        if self._started_at is None:
            self._started_at = now
        quota = self._limit.snapshot() if self._limit is not None else None
        p = pace(
            quota,
            clock.now(),
            targets=len(self._targets),
            explicit=self._explicit,
            reserve=self._reserve,
            attempts=self._attempts,
            share=self._share,
        )
        if p.interval is not None:
            self._interval = p.interval
        discover = self._discovery_due(now)
        first = self._first_reads(p)
        poll = bool(self._queue) and now >= (self._fresh_at if first else self._next_at) - _EPSILON
        if not (discover or poll):
            if not self._queue and self._targets:
                self._close_cycle(now)
            else:
                await self._wait(now, first)
            return
        if p.affordable < 1:  # the budget is spent (all but the reserve): wait for the reset
            await self._sleep_until(quota.resets_at if quota is not None else None)
            return
        if discover and (not poll or self._turn):
            self._turn = False
            await self._discover(p)
            return
        self._turn = True
        await self._read(p, first)

    def _first_reads(self, p: Pace) -> bool:
        """Whether the queue starts with targets never read, to read at once (all fit)."""
        queue = self._queue
        return bool(queue) and queue[0] in self._fresh and p.affordable >= len(self._fresh)

    def _close_cycle(self, now: float) -> None:
        """Every target was read: the next cycle begins an interval after this one began."""
        self.cycles += 1
        began = self._started_at if self._started_at is not None else now
        self._next_at = max(self._next_at, began + (self._interval or 0.0))
        self._started_at = max(now, self._next_at)
        self._queue.extend(self._targets)

    async def _wait(self, now: float, first: bool) -> None:
        """Sleep until the next read or discovery call is due."""
        wake = self._discovery_next()
        if self._queue:
            wake = min(wake, self._fresh_at if first else self._next_at)
        if math.isinf(wake):  # nothing is ever due: a bug, but never a busy loop
            wake = now + _UNKNOWN_RESET
        await self._clock.sleep(max(0.0, wake - now))

    async def _read(self, p: Pace, first: bool) -> None:
        """Read the batch due: first reads at once, else the ring's next reads at its pace."""
        queue = self._queue
        per_read = p.fastest if first else p.per_read
        # Reads go ``concurrency`` at a time. Without a per-second limit, batches due less than
        # a second apart are read in one step (up to _CHUNK of them, by the same workers): the
        # pace keeps a one-second grain and far fewer tasks are started.
        chunk = self._batch
        if not p.limited:
            steps = _GRAIN / max(chunk * per_read, _EPSILON)  # finite, however small the pace
            chunk *= max(1, min(_CHUNK, math.floor(steps)))
        batch = list(islice(queue, min(len(queue), p.at_once(chunk))))
        if first:  # only the targets never read: the others keep the ring's pace
            fresh = self._fresh
            batch = batch[: next((i for i, t in enumerate(batch) if t not in fresh), len(batch))]
        started = self._clock.monotonic()
        outcomes: list[Outcome | None] = [None] * len(batch)
        try:
            await run_all([partial(self._fetch, t) for t in batch], outcomes, self._batch)
        finally:
            tally = self._record(batch, outcomes)
        if first:
            self._fresh_at = started + len(batch) * p.fastest
        else:
            self._next_at = started + len(batch) * per_read
        now = self._clock.monotonic()
        if not self._queue and not self._discovery_due(now):
            self._close_cycle(now)
        await self._conclude(tally)

    def _record(self, batch: list[T], outcomes: list[Outcome | None]) -> Tally:
        """Store the values, buffer the changes, count the errors; put back what was not read."""
        if self._closed:  # closed while the batch was read: nothing is kept
            return Tally()
        key = self._key
        values = self._values
        keys = self._keys
        again: list[T] = []
        tally = Tally()
        for target, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:  # cancelled before it was read
                again.append(target)
                continue
            verdict = self._judge(outcome, tally)
            if verdict is Verdict.QUOTA or verdict is Verdict.FATAL:
                again.append(target)
                continue
            self.polls += 1
            self._fresh.discard(target)
            if verdict is Verdict.COUNTED:  # the target keeps its value, read again next cycle
                continue
            payload = outcome.value
            if key is not None:  # the previous value's key is kept: computed once
                new = key(payload)
                changed = keys.get(target, _NONE) != new
                keys[target] = new
            else:
                changed = values.get(target, _NONE) != payload
            if changed:
                self._buffer.append(self._change(target, values.get(target), payload))
            values[target] = payload
        queue = self._queue
        for _ in batch:
            queue.popleft()
        queue.extendleft(reversed(again))
        return tally

    async def _sleep_until(self, moment: datetime | None) -> None:
        """Sleep until ``moment`` (at least a second; an hour when it is unknown)."""
        if moment is None:
            await self._clock.sleep(_UNKNOWN_RESET)
            return
        seconds = (moment - self._clock.now()).total_seconds()
        await self._clock.sleep(max(1.0, seconds))
