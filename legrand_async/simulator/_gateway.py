"""The simulated Azure API Management gateway: ASGI middleware in front of the data API.

For a request that names an operation of the API (a route of the library's table), in order:
the subscription key, the bearer token, the per-second rate limit (429 with ``Retry-After``),
the daily quota (403 "Out of call volume quota"), the count, then the seeded faults around the
backend's answer. Anything else (an unknown path, a wrong method) goes to the API untouched.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._clock import Clock
from .._routing import Route
from .._transport.headers import QUOTA_TEXT
from ._faults import Faults, with_fault
from ._wire import error

__all__ = ["Gateway"]

#: Which of the routes served at one method and path a request body is for.
Picker = Callable[[bytes], Route]


async def _whole_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the request body read already handed out again, once."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _answer(app: ASGIApp, scope: Scope, receive: Receive) -> Response:
    """What ``app`` answers, as a Response (so that a fault can cut, delay or replace it)."""
    status, headers, chunks = 500, [], []

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    response = Response(b"".join(chunks), status)
    response.raw_headers = headers
    return response


class Gateway:
    """What Azure API Management does before the backend; counts the calls it lets through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        operations: Sequence[tuple[BaseRoute, Picker]],
        clock: Clock,
        bearer_valid: Callable[[str, datetime], bool],
        subscription_key: str,
        faults: Faults,
        per_second: int | None,
        per_day: int | None,
    ) -> None:
        self.app = app
        self.operations = operations
        self.clock = clock
        self.bearer_valid = bearer_valid
        self.subscription_key = subscription_key
        self.faults = faults
        self.per_second = per_second
        self.per_day = per_day
        self.calls_today = 0
        self.day = clock.now().date()
        self.window = (0, 0)  # (second, calls in it)

    def _operation(self, scope: Scope) -> Picker | None:
        for served, pick in self.operations:
            if served.matches(scope)[0] is Match.FULL:
                return pick
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pick = self._operation(scope) if scope["type"] == "http" else None
        if pick is None:
            await self.app(scope, receive, send)
            return
        refusal = self._admit(Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = await _whole_body(receive)
        route = pick(body)
        replayed = _replay(body, receive)

        def answer() -> Awaitable[Response]:
            return _answer(self.app, scope, replayed)

        response = await with_fault(self.faults, route.name, route.family, self.clock, answer)
        await response(scope, receive, send)

    def _admit(self, headers: Headers) -> Response | None:
        """The gateway's answer when it refuses the call; counts the calls it lets through."""
        if headers.get("ocp-apim-subscription-key") != self.subscription_key:
            missing = "ocp-apim-subscription-key" not in headers
            return error(
                401,
                f"Access denied due to {'missing' if missing else 'invalid'} subscription key. "
                "Make sure to provide a valid key for an active subscription.",
            )
        now = self.clock.now()
        if not self.bearer_valid(headers.get("authorization", ""), now):
            return error(401, "Unauthorized. Access token is missing or invalid.")
        if self.per_second is not None:
            second = math.floor(self.clock.monotonic())
            start, count = self.window
            count = count + 1 if start == second else 1
            self.window = (second, count)
            if count > self.per_second:
                wait = max(1, math.ceil(second + 1 - self.clock.monotonic()))
                response = error(429, f"Rate limit is exceeded. Try again in {wait} seconds.")
                response.headers["Retry-After"] = str(wait)
                return response
        if now.date() != self.day:
            self.day, self.calls_today = now.date(), 0
        if self.per_day is not None and self.calls_today >= self.per_day:
            left = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC) - now
            seconds = math.ceil(left.total_seconds())
            hms = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
            return error(403, f"{QUOTA_TEXT.capitalize()}. Quota will be replenished in {hms}.")
        self.calls_today += 1
        return None
