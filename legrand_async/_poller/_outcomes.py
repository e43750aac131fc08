"""Outcomes: one classification of what a call of the poller came to, and calls run together.

Every call the poller makes (a status read, a plant list, a topology) ends in one of four
verdicts, decided here and nowhere else:

- ``VALUE``: it answered;
- ``COUNTED``: a :class:`LegrandError` the poller outlives (network, 5xx, 408, 486, 404, a body
  that is not JSON or does not fit the model...): counted, tried again later;
- ``QUOTA``: :class:`QuotaExhausted`: counted, waited out, tried again first;
- ``FATAL``: an error that needs the user (:class:`AuthError`, 401 :class:`Unauthorized`) or
  anything that is not a ``LegrandError`` (a bug): raised. A token endpoint that is slow, down,
  rate limited or answers nonsense (:class:`TokenRefreshTimeout`, :class:`TokenServerError`,
  :class:`TokenRateLimited`, :class:`InvalidTokenResponse`: each also a :data:`PASSING` class)
  is counted like any other fault: the next call tries the refresh again.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Final

import anyio
import attrs

from ..errors import (
    AuthError,
    LegrandError,
    QuotaExhausted,
    RateLimited,
    ResponseValidationError,
    ServerError,
    TransportError,
    Unauthorized,
)

__all__ = ["FATAL", "PASSING", "Outcome", "Tally", "Verdict", "classify", "run_all"]

#: Errors the poller cannot outlive: they need the user (a new login, a valid key).
FATAL: Final = (AuthError, Unauthorized)
#: Faults that pass, even when the token endpoint had them (those are AuthErrors too).
PASSING: Final = (TransportError, ServerError, RateLimited, ResponseValidationError)


class Verdict(enum.Enum):
    VALUE = "value"
    COUNTED = "counted"
    QUOTA = "quota"
    FATAL = "fatal"


def classify(error: BaseException) -> Verdict:
    """The verdict on a call that raised ``error``."""
    if isinstance(error, QuotaExhausted):
        return Verdict.QUOTA
    if isinstance(error, LegrandError) and (
        isinstance(error, PASSING) or not isinstance(error, FATAL)
    ):
        return Verdict.COUNTED
    return Verdict.FATAL


@attrs.frozen
class Outcome:
    """What one call came to: its verdict and its value or error."""

    verdict: Verdict
    value: Any = None
    error: BaseException | None = None

    @classmethod
    def of_error(cls, error: BaseException) -> Outcome:
        return cls(classify(error), error=error)


@attrs.define
class Tally:
    """What a batch of calls leaves to do once recorded: an error to raise, a quota to wait."""

    fatal: BaseException | None = None
    quota: bool = False
    resets_at: datetime | None = None

    def add(self, outcome: Outcome) -> None:
        if outcome.verdict is Verdict.FATAL and self.fatal is None:
            self.fatal = outcome.error
        elif outcome.verdict is Verdict.QUOTA:
            assert isinstance(outcome.error, QuotaExhausted)
            resets = outcome.error.resets_at
            if not self.quota or (
                resets is not None and (self.resets_at is None or resets > self.resets_at)
            ):
                self.resets_at = resets
            self.quota = True


async def run_all(
    calls: Sequence[Callable[[], Awaitable[Any]]],
    into: list[Outcome | None],
    concurrency: int,
) -> None:
    """Run ``calls``, ``concurrency`` at a time, writing each outcome to ``into`` as it ends.

    When cancelled, the calls that did not end are left as None in ``into``.
    """
    work = iter(enumerate(calls))  # shared by the workers

    async def worker() -> None:
        for i, call in work:
            try:
                into[i] = Outcome(Verdict.VALUE, await call())
            except Exception as exc:  # classified; the caller counts, waits or raises
                into[i] = Outcome.of_error(exc)

    if len(calls) == 1 or concurrency == 1:
        await worker()
        return
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(calls))):
            tg.start_soon(worker, name="legrand_async poll")
