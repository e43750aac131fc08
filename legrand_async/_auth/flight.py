"""One refresh shared by every caller that needs it, each waiting no longer than its timeout."""

from __future__ import annotations

import math
from collections.abc import Mapping

import anyio
import httpx

from ..errors import TokenRefreshTimeout
from .token import Token

__all__ = ["Flight", "fresh", "timeout_seconds"]


class Flight:
    """One load-or-refresh in progress; the callers that arrive meanwhile share its outcome.

    Neither ``token`` nor ``error`` once ``done`` is set: the leader stopped before sending
    anything (cancelled, or out of time waiting for the lock), and a waiter takes over; or
    asyncio cancelled it once its refresh was saved, and the waiter finds that token current.
    """

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: Token | None = None
        self.error: Exception | None = None

    async def wait(self, deadline: float | None) -> None:
        """Wait for the outcome until ``deadline`` (``anyio.current_time()``), or
        :class:`TokenRefreshTimeout`: the refresh goes on and the next call waits for it again."""
        with anyio.move_on_at(math.inf if deadline is None else deadline):
            await self.done.wait()
        if not self.done.is_set():
            raise TokenRefreshTimeout(
                "the token refresh in progress did not finish within this request's timeout; "
                "it goes on, and the next call uses its token (or tries again)"
            )


def fresh(error: Exception) -> Exception:
    """A new exception like ``error`` (class, args, attributes) caused by it.

    Raising one shared exception object from many tasks grows its traceback by every raise;
    each waiter raises its own copy instead, chained to the one cause.
    """
    cls = type(error)
    try:
        copy = cls.__new__(cls, *error.args)
        copy.__dict__.update(error.__dict__)
        copy.args = error.args
    except Exception:  # an exception type that cannot be copied: wrap it
        copy = RuntimeError(f"the shared token refresh failed: {type(error).__name__}")
    copy.__cause__ = error
    return copy


def timeout_seconds(timeout: object) -> float | None:
    """The longest of an httpx timeout configuration (``request.extensions["timeout"]``, an
    ``httpx.Timeout`` or a number), in seconds; None when a phase (or all) is unbounded, as
    the transport reads it for a whole attempt."""
    if isinstance(timeout, httpx.Timeout):
        timeout = timeout.as_dict()
    values = list(timeout.values()) if isinstance(timeout, Mapping) else [timeout]
    seconds = [
        float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if not values or len(seconds) < len(values) or not all(map(math.isfinite, seconds)):
        return None
    return max(seconds)
