"""The limiter on the wire: ``RateLimitTransport`` spends a :class:`RateLimit` on every attempt.

The limiter itself lives in :mod:`.limiter` (windows, pauses), :mod:`.day_count` and
:mod:`.day_window` (the daily window), :mod:`.quota_store` and :mod:`.quota_sync` (the store);
its public names are re-exported here.
"""

from __future__ import annotations

import httpx

from .._responses import error_from_response
from ..errors import ServerQuotaExhausted
from .chain import RateLimits
from .classify import CLASSIFICATION, Classification, Kind
from .limiter import MAX_PAUSE, Quota, RateLimit
from .quota_store import FileQuotaStore, QuotaStore, SharedQuotaStore

__all__ = [
    "MAX_PAUSE",
    "FileQuotaStore",
    "Limits",
    "Quota",
    "QuotaStore",
    "RateLimit",
    "RateLimitTransport",
    "RateLimits",
    "SharedQuotaStore",
]

#: What a client's attempts go through: one limiter, or several in order.
Limits = RateLimit | RateLimits


class RateLimitTransport(httpx.AsyncBaseTransport):
    """Spends the limiter on every attempt and listens to the gateway's 429 and quota answers.

    It reads each response's classification (no body parsing here): a quota answer marks the
    day spent (:meth:`RateLimit.exhaust`, given the answer's error), a 429's wait pauses every
    request through the limiter (:meth:`RateLimit.pause`), capped at ``max_pause`` like the
    retry wait. While the day is spent by the gateway's word, the limiter fails calls fast with
    the same :class:`ServerQuotaExhausted` as the answer that said it, in every client sharing
    it. Both marks are written to the store at once (an error path, not the request path: a
    restart, or a crash, must not spend a call to learn them again).
    """

    def __init__(
        self, wrapped: httpx.AsyncBaseTransport, limit: Limits, *, max_pause: float
    ) -> None:
        self._wrapped = wrapped
        self._limit = limit
        self._max_pause = max_pause

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limit = self._limit
        async with limit.in_flight():  # a slot first, so waiting for one never makes a burst
            await limit.acquire()
            response = await self._wrapped.handle_async_request(request)
        record: Classification = response.extensions[CLASSIFICATION]
        if record.kind is Kind.QUOTA:
            answer = error_from_response(response, attempts=0)  # the error later calls raise
            assert isinstance(answer, ServerQuotaExhausted)
            limit.exhaust(record.quota_until, answer=answer)
        elif record.status == 429 and record.retry_after is not None:
            limit.pause(record.retry_after, cap=self._max_pause)
        if record.kind is Kind.QUOTA or record.status == 429:
            await limit.flush()  # at once: a restart must not spend a call to learn it again
        return response  # read and closed by the bounded layer: nothing to release if cancelled

    async def aclose(self) -> None:
        await self._wrapped.aclose()
