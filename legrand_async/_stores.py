"""Calling a user's store (tokens, quota counts): bounded in time, failures kept, not fatal.

Both ``OAuth2Auth`` and the limiter's :class:`~._transport.quota_sync.QuotaSync` call stores
that may fail or hang (a full disk, a database that does not answer). Each call gets at most
:data:`STORE_TIMEOUT` seconds (:func:`in_time`); a failure is kept in :attr:`StoreHealth.error`
for monitoring and logged at WARNING once per streak (DEBUG after), scrubbed of secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, TypeVar

import anyio

from ._secrets import scrub

__all__ = ["STORE_TIMEOUT", "StoreHealth", "in_time"]

log = logging.getLogger("legrand_async")

#: Seconds a store's load or save may take before it is given up on (real time; what it held
#: stays in memory, and the failure is logged like any other).
STORE_TIMEOUT: Final = 10.0

T = TypeVar("T")


async def in_time(step: Callable[[], Awaitable[T]]) -> T:
    """``await step()``, or TimeoutError after :data:`STORE_TIMEOUT` seconds."""
    with anyio.move_on_after(STORE_TIMEOUT):
        return await step()
    raise TimeoutError(f"no answer within {STORE_TIMEOUT:g} s")


class StoreHealth:
    """The last failure of one store, and the log lines about it.

    ``name`` names the store in the log; ``kept`` says what goes on meanwhile ("the token is
    kept in memory and saved again later").
    """

    def __init__(self, name: str, kept: str) -> None:
        self.name = name
        self.kept = kept
        #: The store's last failure, None once it works again.
        self.error: Exception | None = None

    def failed(self, action: str, exc: Exception, secrets: Iterable[str] = ()) -> None:
        """Keep ``exc``; WARNING on the first failure of a streak, DEBUG after."""
        level = logging.WARNING if self.error is None else logging.DEBUG
        self.error = exc
        reason = scrub(f"{type(exc).__name__}: {exc}", list(secrets))
        log.log(level, "could not %s %s (%s); %s", action, self.name, reason, self.kept)

    def works(self) -> None:
        """The store answered: a streak of failures (if any) ends."""
        if self.error is not None:
            log.info("%s works again", self.name)
            self.error = None
