"""The receiver's events on their way to the consumer: duplicates, bounds and counters.

Acknowledging a delivery only appends it (:meth:`EventQueue.arrive`): its bookkeeping is the
consumer's side of the work, run when the consumer takes events, when anything is read (counters,
sizes), or when as many deliveries as the queue holds events (or bytes) wait to be booked. It
runs in arrival order with each delivery's arrival time, so what anyone observes is what booking
each delivery at once would have given, and a slow consumer costs the answers nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict, deque
from collections.abc import Callable

from ._ack import OTHER, VALIDATION, Found

__all__ = ["EventQueue", "Window"]

#: Longer event ids are remembered by a digest, so a flood of huge ids costs no more memory.
_LONGEST_ID = 128


class Window:
    """The event ids seen in the last ``seconds``, at most ``size`` of them (oldest go first)."""

    __slots__ = ("_oldest", "_seen", "seconds", "size")

    def __init__(self, size: int, seconds: float) -> None:
        self.size = size
        self.seconds = seconds
        self._seen: OrderedDict[str | bytes, float] = OrderedDict()  # id (or digest): when seen
        self._oldest = math.inf  # when the first id in _seen was seen

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, event_id: str, now: float) -> bool:
        """Whether ``event_id`` is in the window; it is added if not."""
        seen = self._seen
        if self._oldest < now - self.seconds:
            horizon = now - self.seconds
            while seen and next(iter(seen.values())) < horizon:
                seen.popitem(last=False)
            self._oldest = next(iter(seen.values())) if seen else math.inf
        key: str | bytes = event_id
        if len(event_id) > _LONGEST_ID:
            key = hashlib.blake2b(
                event_id.encode("utf-8", "surrogatepass"), digest_size=16
            ).digest()
        if key in seen:
            return True
        seen[key] = now
        if len(seen) > self.size:
            seen.popitem(last=False)
            self._oldest = next(iter(seen.values()))
        elif len(seen) == 1:
            self._oldest = now
        return False


class EventQueue:
    """Events of acknowledged deliveries as (body, index of the event in it), oldest first.

    Bytes are smaller than parsed JSON and not tracked by the garbage collector; the consumer
    parses them again when it takes them. The events of one body are side by side, and its
    bytes count from its first to its last event. Past ``size`` events or ``max_bytes`` bytes
    the oldest are dropped (``dropped``); an id the window has seen is not queued again
    (``duplicates``); events of kinds the library does not model are counted in ``other``.
    """

    __slots__ = (
        "_arrivals",
        "_arriving_bytes",
        "_bytes",
        "_counts",
        "_events",
        "_monotonic",
        "dedup",
        "max_bytes",
        "size",
    )

    def __init__(
        self, size: int, max_bytes: int, dedup: Window, monotonic: Callable[[], float]
    ) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.dedup = dedup
        self._monotonic = monotonic
        self._events: deque[tuple[bytes, int]] = deque()
        self._bytes = 0
        self._arrivals: list[tuple[bytes, Found, float]] = []  # acknowledged, not booked
        self._arriving_bytes = 0
        self._counts = [0, 0, 0, 0]  # received, other, duplicates, dropped

    def arrive(self, body: bytes, found: Found) -> None:
        """A delivery acknowledged: booked later, within the queue's bounds."""
        if not found:
            return  # an empty array: nothing to book
        arrivals = self._arrivals
        arrivals.append((body, found, self._monotonic()))
        self._arriving_bytes += len(body)
        if len(arrivals) > self.size or self._arriving_bytes + self._bytes > self.max_bytes:
            self.settle()

    def settle(self) -> None:
        """Book every delivery acknowledged so far."""
        arrivals = self._arrivals
        if arrivals:
            self._arrivals = []
            self._arriving_bytes = 0
            for body, found, now in arrivals:
                self._book(body, found, now)

    def _book(self, body: bytes, found: Found, now: float) -> None:
        events = self._events
        counts = self._counts
        counted = bool(events) and events[-1][0] is body  # a body's bytes count once
        seen = self.dedup.seen
        for index, (kind, value) in enumerate(found):
            if kind == VALIDATION:
                continue
            if value is not None and seen(value, now):
                counts[2] += 1
                continue
            if kind == OTHER:
                counts[1] += 1
            events.append((body, index))
            counts[0] += 1
        if not counted and events and events[-1][0] is body:
            self._bytes += len(body)
        while len(events) > self.size or self._bytes > self.max_bytes:
            self._take()
            counts[3] += 1

    def take(self) -> tuple[bytes, int] | None:
        """The oldest event, None when there is none."""
        if not self._events:
            self.settle()
            if not self._events:
                return None
        return self._take()

    def _take(self) -> tuple[bytes, int]:
        events = self._events
        body, index = events.popleft()
        if not events or events[0][0] is not body:  # the last event of its body
            self._bytes -= len(body)
        return body, index

    def counts(self) -> tuple[int, int, int, int]:
        """(received, other, duplicates, dropped) so far."""
        self.settle()
        received, other, duplicates, dropped = self._counts
        return received, other, duplicates, dropped

    def __len__(self) -> int:
        self.settle()
        return len(self._events)

    @property
    def bytes(self) -> int:
        """Bytes of the bodies the queued events are in."""
        self.settle()
        return self._bytes
