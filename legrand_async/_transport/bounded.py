"""The innermost layer: every attempt under one deadline, every body read whole under a cap.

``BoundedTransport`` wraps the wire. It runs each attempt (connect, send, headers, body) in one
anyio cancel scope whose deadline is the request's timeout, reads the body inside it (decoded,
at most ``max_body_size`` bytes: :mod:`.body`), closes the wire's stream whatever happens (a
timeout, the caller cancelling), and hands up a response whose body is already read, with its
:class:`~.classify.Classification` in ``extensions``. A missed deadline raises
``httpx.ReadTimeout``, so the retry loop treats a trickling server as a read timeout.
"""

from __future__ import annotations

import math
from typing import Final

import anyio
import httpx

from .._clock import Clock
from .body import ACCEPT_ENCODING, BodyTooLarge, Undecodable, read_body
from .classify import CLASSIFICATION, EXPECTS_JSON, Kind, classify

__all__ = ["DEFAULT_MAX_BODY_SIZE", "RETRY_AFTER", "BoundedTransport", "attempt_timeout"]

#: The default cap on a decoded response body (bytes): the largest real answers are a few KiB.
DEFAULT_MAX_BODY_SIZE: Final = 4 * 1024 * 1024
#: Response extension: the server's requested wait (the classification's ``retry_after``), for
#: code that reads only that.
RETRY_AFTER: Final = "legrand_async.retry_after"


def attempt_timeout(request: httpx.Request) -> float:
    """Seconds one attempt may take as a whole: the longest of the request's httpx timeouts.

    A phase without a limit (``None``) lifts the bound (``inf``), as no timeout at all does.
    """
    timeouts = request.extensions.get("timeout")
    if not timeouts:
        return math.inf
    values = timeouts.values()
    return math.inf if None in values else float(max(values))


class BoundedTransport(httpx.AsyncBaseTransport):
    """Deadline, size cap and one classification for every attempt on ``wrapped``."""

    def __init__(
        self, wrapped: httpx.AsyncBaseTransport, *, max_body_size: int, clock: Clock
    ) -> None:
        self._wrapped = wrapped
        self._limit = max_body_size
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("accept-encoding") != ACCEPT_ENCODING:
            request.headers["Accept-Encoding"] = ACCEPT_ENCODING  # what read_body inflates
        seconds = attempt_timeout(request)
        kind: Kind | None = None
        why: str | None = None
        encoding: str | None = None
        with anyio.move_on_after(seconds) as scope:
            response = await self._wrapped.handle_async_request(request)
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            try:
                encoding = response.headers.get("content-encoding")
                body = await read_body(stream, encoding, self._limit)
            except BodyTooLarge:
                body, kind = b"", Kind.TOO_LARGE
                why = f"the response body is longer than max_body_size ({self._limit} bytes)"
            except Undecodable as exc:
                body, kind, why = b"", Kind.UNDECODABLE, str(exc)
            except BaseException:  # a timeout, the caller cancelling, the wire failing
                with anyio.CancelScope(shield=True):
                    await response.aclose()
                raise
            await stream.aclose()
        if scope.cancelled_caught:
            raise httpx.ReadTimeout(
                f"no complete answer within the {seconds:g} s timeout", request=request
            )
        headers = response.headers
        if encoding is not None:  # the body handed up is decoded
            del headers["content-encoding"]
            headers["content-length"] = str(len(body))
        status = response.status_code
        response.stream = httpx.ByteStream(body)
        response.read()  # from memory: the response is read and closed, as httpx expects
        response.request = request
        record = classify(
            status,
            headers,
            body,
            now=self._clock.now(),
            expects_json=request.extensions.get(EXPECTS_JSON, False),
            kind=kind,
            why=why,
        )
        response.extensions[CLASSIFICATION] = record
        if record.retry_after is not None:
            response.extensions[RETRY_AFTER] = record.retry_after
        return response

    async def aclose(self) -> None:
        await self._wrapped.aclose()

