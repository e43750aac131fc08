"""Single flight: concurrent calls for the same key share one run of the work (anyio).

The one mechanism behind ``ensure_subscription`` and ``OAuth2Auth``'s refresh. The first
caller (the leader) runs the work; the others wait, each until its own deadline, and get the
leader's result, or a fresh copy of its error (chained to the one cause: one exception raised
by hundreds of tasks would grow its traceback by every raise). A leader that stops before it
has an outcome (cancelled, or out of its own time: ``hands_over``) hands over: the next
waiter runs the work itself.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from .errors import LegrandError

__all__ = ["SingleFlight", "fresh"]

T = TypeVar("T")


def fresh(error: Exception, fallback: type[LegrandError] = LegrandError) -> Exception:
    """A new exception like ``error`` (class, args, attributes), caused by it.

    An exception type that cannot be copied so is wrapped in ``fallback`` (a documented
    :class:`~legrand_async.LegrandError`), still caused by ``error``.
    """
    cls = type(error)
    copy: Exception
    try:
        copy = cls.__new__(cls, *error.args)
        copy.__dict__.update(error.__dict__)
        copy.args = error.args
    except Exception:
        copy = fallback(f"the shared operation failed: {cls.__name__}")
    copy.__cause__ = error
    return copy


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result", "succeeded")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.succeeded = False
        self.result: T | None = None
        self.error: Exception | None = None


class SingleFlight(Generic[T]):
    """Runs ``work`` once for the callers that ask for the same key while it runs.

    ``fallback`` wraps an error that cannot be copied; ``hands_over`` are the exceptions of a
    leader that mean "I stopped before doing anything" (they are not shared: a waiter runs the
    work); ``timeout`` builds the error of a waiter whose deadline passes (the work goes on).
    """

    def __init__(
        self,
        *,
        fallback: type[LegrandError] = LegrandError,
        hands_over: tuple[type[Exception], ...] = (),
        timeout: Callable[[], Exception] = lambda: TimeoutError("the shared operation is late"),
    ) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}
        self._fallback = fallback
        self._hands_over = hands_over
        self._timeout = timeout

    def busy(self, key: Hashable) -> bool:
        """Whether a run for ``key`` is under way."""
        return key in self._flights

    async def run(
        self,
        key: Hashable,
        work: Callable[[], Awaitable[T]],
        *,
        deadline: float | None = None,
        ready: Callable[[], T | None] | None = None,
    ) -> T:
        """The outcome of ``work()`` run once for ``key``, waiting until ``deadline``
        (``anyio.current_time()``) at most; ``ready()``, checked before leading or waiting,
        gives an outcome already there (None: none)."""
        while True:
            if ready is not None and (result := ready()) is not None:
                return result
            flight = self._flights.get(key)
            if flight is None:
                break
            with anyio.move_on_at(math.inf if deadline is None else deadline):
                await flight.done.wait()
            if not flight.done.is_set():
                raise self._timeout()
            if flight.error is not None:
                raise fresh(flight.error, self._fallback)
            if flight.succeeded:
                return flight.result  # type: ignore[return-value]
            # The leader stopped before it had an outcome: the next one of us leads.
        flight = self._flights[key] = _Flight()
        try:
            result = flight.result = await work()
            flight.succeeded = True
        except self._hands_over:
            raise
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()
        # A leader cancelled while shielded work ran (and shared its outcome) stops here.
        await anyio.lowlevel.checkpoint_if_cancelled()
        return result
