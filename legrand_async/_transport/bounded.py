"""The innermost layer: every attempt under one deadline, every body read whole under a cap.

``BoundedTransport`` wraps the wire. It runs each attempt (connect, send, headers, body) under
one deadline, the request's timeout (:class:`~.._deadline.Deadlines`: on asyncio one shared
timer instead of a cancel scope per attempt, which cost more than the rest of this layer),
reads the body inside it (decoded, at most ``max_body_size`` bytes: :mod:`.body`), closes the
wire's stream whatever happens (a timeout, the caller cancelling), and hands up a response
whose body is already read and closed, with its :class:`~.classify.Classification` in
``extensions``. A missed deadline raises ``httpx.ReadTimeout``, so the retry loop treats a
trickling server as a read timeout. The deadline is :data:`SLACK` later than the timeout, so
that httpx's own connect and pool timeouts (same length) fire first and are retried as such.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from typing import Final

import httpx

from .._clock import Clock
from .._deadline import Deadlines
from .._shield import to_the_end
from .body import ACCEPT_ENCODING, BodyTooLarge, Undecodable, read_body
from .classify import CLASSIFICATION, EXPECTS_JSON, Kind, classify

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "SLACK",
    "BoundedTransport",
    "attempt_timeout",
]

#: The default cap on a decoded response body (bytes): the largest real answers are a few KiB.
DEFAULT_MAX_BODY_SIZE: Final = 4 * 1024 * 1024
#: How much later than the timeout an attempt is cut off: httpx's own timeout of the same length
#: for a phase fires first and keeps its name, so a connect or pool timeout (nothing was sent)
#: is still retried on every route; a trickle ends at the timeout plus this.
SLACK: Final = 0.01


def attempt_timeout(request: httpx.Request) -> float:
    """Seconds one attempt may take as a whole: the longest of the request's httpx timeouts.

    A phase without a limit (``None``) lifts the bound (``inf``), as no timeout at all does.
    """
    timeouts = request.extensions.get("timeout")
    if not timeouts:
        return math.inf
    values = timeouts.values()
    return math.inf if None in values else float(max(values))


async def _close(response: httpx.Response) -> None:
    """Close the wire's response, even while the caller is being cancelled (by anyio or by
    asyncio's own ``task.cancel()``): a response left open would hold its connection."""
    await to_the_end(response.aclose)


class BoundedTransport(httpx.AsyncBaseTransport):
    """Deadline, size cap and one classification for every attempt on ``wrapped``."""

    def __init__(
        self, wrapped: httpx.AsyncBaseTransport, *, max_body_size: int, clock: Clock
    ) -> None:
        self._wrapped = wrapped
        self._limit = max_body_size
        self._clock = clock
        self._deadlines: dict[float, Deadlines] = {}  # one per timeout (a client has one)

    def _deadline(self, seconds: float) -> AbstractContextManager[object]:
        if not seconds < math.inf:
            return nullcontext()
        deadlines = self._deadlines.get(seconds)
        if deadlines is None:
            deadlines = self._deadlines[seconds] = Deadlines(seconds)
        return deadlines.start()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("accept-encoding") != ACCEPT_ENCODING:
            # The one place it is set (whatever the client, httpx's default or the caller's
            # http_client asked): what read_body inflates under the cap.
            request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        seconds = attempt_timeout(request)
        response: httpx.Response | None = None
        encoding: str | None = None
        read: tuple[bytes, Kind | None, str | None] | None = None
        try:
            with self._deadline(seconds + SLACK):
                response = await self._wrapped.handle_async_request(request)
                encoding = response.headers.get("content-encoding")
                read = await self._read(response.stream, encoding)
        except BaseException:  # the caller cancelling, the wire failing
            if response is not None:
                await _close(response)
            raise
        if read is None:  # the deadline passed
            if response is not None:
                await _close(response)
            raise httpx.ReadTimeout(
                f"no complete answer within the {seconds:g} s timeout", request=request
            )
        assert response is not None
        body, kind, why = read
        headers = response.headers
        if encoding is not None:  # the body handed up is decoded
            del headers["content-encoding"]
            headers["content-length"] = str(len(body))
        response.stream = httpx.ByteStream(body)
        response.read()  # from memory: the response is read and closed, as httpx expects
        response.request = request
        record = classify(
            response.status_code,
            headers,
            body,
            now=self._clock.now(),
            expects_json=request.extensions.get(EXPECTS_JSON, False),
            kind=kind,
            why=why,
        )
        response.extensions[CLASSIFICATION] = record
        return response

    async def _read(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, encoding: str | None
    ) -> tuple[bytes, Kind | None, str | None]:
        """The decoded body, or why there is none (too large, undecodable); the stream closed."""
        assert isinstance(stream, httpx.AsyncByteStream)
        kind = why = None
        try:
            body = await read_body(stream, encoding, self._limit)
        except BodyTooLarge:
            body, kind = b"", Kind.TOO_LARGE
            why = f"the response body is longer than max_body_size ({self._limit} bytes)"
        except Undecodable as exc:
            body, kind, why = b"", Kind.UNDECODABLE, str(exc)
        await stream.aclose()
        return body, kind, why

    async def aclose(self) -> None:
        await self._wrapped.aclose()
