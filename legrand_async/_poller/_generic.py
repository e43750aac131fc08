"""The generic poller: any status coroutine over targets of the caller's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar, Unpack

import attrs

from .._clock import Clock
from .._transport.ratelimit import Limits
from . import _arguments
from ._options import PollKeywords, PollOptions, poll_options
from ._pacing import ATTEMPTS
from ._ring import BasePoller

__all__ = ["Change", "Poller", "T", "V"]

T = TypeVar("T", bound=Hashable)
V = TypeVar("V")


@attrs.frozen
class Change(Generic[T, V]):
    """``target`` was read as ``current``; it was ``previous`` (None on the first read)."""

    target: T
    previous: V | None
    current: V


class Poller(BasePoller[T, V, Change[T, V]]):
    """Polls ``fetch(target)`` for each target and yields a :class:`Change` when a value changes.

    Built by :meth:`LegrandClient.poll`. Values compare with ``key(value)`` when a ``key`` is
    given (leave out what changes on every read), else with ``==``. The targets are yours: a
    ``fetch`` that raises something other than a :class:`LegrandError` (a ``ValueError`` for a
    target the route refuses, a bug) ends the iteration with that error. The pace is
    ``options`` (a :class:`PollOptions`), its fields overridden by the keywords given.
    """

    def __init__(
        self,
        fetch: Callable[[T], Awaitable[V]],
        targets: Iterable[T],
        *,
        clock: Clock,
        rate_limit: Limits | None,
        key: Callable[[V], object] | None = None,
        options: PollOptions | None = None,
        attempts: int = ATTEMPTS,
        **keywords: Unpack[PollKeywords],
    ) -> None:
        listed: list[T] = _arguments.targets(targets)
        super().__init__(
            fetch,
            listed,
            clock=clock,
            rate_limit=rate_limit,
            options=poll_options(options, keywords),
            key=key,
            attempts=attempts,
        )

    def _change(self, target: T, previous: V | None, current: V) -> Change[T, V]:
        return Change(target, previous, current)
