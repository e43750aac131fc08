"""Single flight: concurrent calls for the same key share one run of the work (anyio)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result", "succeeded")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.succeeded = False
        self.result: T | None = None
        self.error: Exception | None = None


class SingleFlight(Generic[T]):
    """Runs ``work`` once for callers that ask for the same key while it runs.

    The first caller (the leader) runs it; the others wait and get its result or its error.
    A leader that is cancelled hands over: one of those waiting runs the work itself.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        while (flight := self._flights.get(key)) is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.succeeded:
                return flight.result  # type: ignore[return-value]
            # the leader was cancelled: the next one of us leads
        flight = self._flights[key] = _Flight()
        try:
            flight.result = await work()
            flight.succeeded = True
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()
