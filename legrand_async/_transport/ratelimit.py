"""The limiter on the wire: ``RateLimitTransport`` spends a :class:`RateLimit` on every attempt.

The limiter itself lives in :mod:`.limiter` (windows, pauses), :mod:`.day_count` and
:mod:`.day_window` (the daily window), :mod:`.quota_store` and :mod:`.quota_sync` (the store);
its public names are re-exported here.
"""

from __future__ import annotations

import httpx

from .._responses import error_from_response
from ..errors import QuotaExhausted, ServerQuotaExhausted
from .classify import CLASSIFICATION, Classification, Kind
from .limiter import MAX_PAUSE, Quota, RateLimit
from .quota_store import FileQuotaStore, QuotaStore, SharedQuotaStore

__all__ = [
    "MAX_PAUSE",
    "FileQuotaStore",
    "Quota",
    "QuotaStore",
    "RateLimit",
    "RateLimitTransport",
    "SharedQuotaStore",
]


class RateLimitTransport(httpx.AsyncBaseTransport):
    """Spends the limiter on every attempt and listens to the gateway's 429 and quota answers.

    It reads each response's classification (no body parsing here): a quota answer marks the
    day spent (:meth:`RateLimit.exhaust`), a 429's wait pauses every request through the limiter
    (:meth:`RateLimit.pause`), capped at ``max_pause`` like the retry wait. While the day is
    spent by the gateway's word, calls fail fast with the same :class:`ServerQuotaExhausted` as
    the answer that said it, in every client sharing the limiter.
    """

    def __init__(
        self, wrapped: httpx.AsyncBaseTransport, limit: RateLimit, *, max_pause: float
    ) -> None:
        self._wrapped = wrapped
        self._limit = limit
        self._max_pause = max_pause

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limit = self._limit
        async with limit.in_flight():  # a slot first, so waiting for one never makes a burst
            try:
                await limit.acquire()
            except QuotaExhausted as exc:
                raise _as_server_answer(limit, exc) from None
            response = await self._wrapped.handle_async_request(request)
        record: Classification = response.extensions[CLASSIFICATION]
        if record.kind is Kind.QUOTA:
            limit.exhaust(record.quota_until, answer=response)
        elif record.status == 429 and record.retry_after is not None:
            limit.pause(record.retry_after, cap=self._max_pause)
        if record.kind is Kind.QUOTA or record.status == 429:
            await limit.flush()  # a restart must not spend a call to learn it again
        return response  # read and closed by the bounded layer: nothing to release if cancelled

    async def aclose(self) -> None:
        await self._wrapped.aclose()


def _as_server_answer(limit: RateLimit, exc: QuotaExhausted) -> QuotaExhausted:
    """``exc`` as the gateway's ServerQuotaExhausted when the gateway's quota answer is why.

    That answer is known when it passed through this process; after a restart the limiter
    only has its "spent until" (from its store): the day shows no call left although the local
    count is not spent, which only the gateway's answer does.
    """
    until = exc.resets_at
    if until is None:
        return exc
    answer = limit.server_answer(until)
    if isinstance(answer, httpx.Response):
        error = error_from_response(answer, attempts=0)  # nothing was sent
        assert isinstance(error, ServerQuotaExhausted)
        said = f"as the gateway said ({error.message})"
    else:
        quota = limit.snapshot()
        local = quota.per_day is not None and quota.used_today >= quota.per_day
        if quota.remaining_today != 0 or local or quota.resets_at != until:
            return exc  # the local count, or a wait longer than max_wait
        error = ServerQuotaExhausted("", status_code=403, resets_at=until, attempts=0)
        said = "as the gateway said before this process started"
    error.message = f"call quota spent until {until.isoformat(timespec='seconds')}, {said}"
    error.args = (error.message,)
    return error
