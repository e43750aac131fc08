"""The limiter on the wire: ``RateLimitTransport`` spends a :class:`RateLimit` on every attempt.

The limiter itself lives in :mod:`.limiter` (windows, pauses), :mod:`.day_count` and
:mod:`.day_window` (the daily window), :mod:`.quota_store` and :mod:`.quota_sync` (the store);
its public names are re-exported here.
"""

from __future__ import annotations

import httpx

from .headers import QUOTA_TEXT, parse_quota_reset, parse_retry_after
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
    """Spends the limiter on every attempt and listens to the gateway's 429 and 403 answers."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport, limit: RateLimit) -> None:
        self._wrapped = wrapped
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limit = self._limit
        async with limit.in_flight():  # a slot first, so waiting for one never makes a burst
            await limit.acquire()
            response = await self._wrapped.handle_async_request(request)
        if response.status_code in (403, 429):
            await response.aread()
            text = response.text
            now = limit.now()
            if QUOTA_TEXT in text.lower():
                limit.exhaust(parse_quota_reset(text, now))
            elif response.status_code == 429:
                wait = parse_retry_after(response.headers, text, now)
                if wait is not None:  # without one, the retry backoff is the only wait
                    limit.pause(wait)
            await limit.flush()  # a restart must not spend a call to learn it again
        return response

    async def aclose(self) -> None:
        await self._wrapped.aclose()
