"""The simulated Azure API Management gateway in front of every data route.

Subscription key, bearer token, per-second rate limit (429 with ``Retry-After``), daily quota
(403 "Out of call volume quota"), then the seeded faults, then the route's handler.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from .._clock import Clock
from ._faults import Faults, with_fault
from ._oauth import OAuthServer
from ._wire import Handler, error, json_object

__all__ = ["Gateway"]


class Gateway:
    """What Azure API Management does before the backend; counts the calls it lets through."""

    def __init__(
        self,
        *,
        clock: Clock,
        oauth: OAuthServer,
        subscription_key: str,
        faults: Faults,
        per_second: int | None,
        per_day: int | None,
    ) -> None:
        self.clock = clock
        self.oauth = oauth
        self.subscription_key = subscription_key
        self.faults = faults
        self.per_second = per_second
        self.per_day = per_day
        self.calls_today = 0
        self.day = clock.now().date()
        self.window = (0, 0)  # (second, calls in it)

    async def handle(self, request: Request, family: str, name: str, handler: Handler) -> Response:
        """The gateway's refusal, or the faults' version of the handler's answer."""
        refusal = self._admit(request)
        if refusal is not None:
            return refusal
        body = await json_object(request) if name == "set_automation_level" else None
        if body is not None and body.get("level") == -1:
            name = "stop_automation"  # the two routes share a method and path
        return await with_fault(self.faults, name, family, self.clock, lambda: handler(request))

    def _admit(self, request: Request) -> Response | None:
        """The gateway's answer when it refuses the call; counts the calls it lets through."""
        if request.headers.get("ocp-apim-subscription-key") != self.subscription_key:
            missing = "ocp-apim-subscription-key" not in request.headers
            return error(
                401,
                f"Access denied due to {'missing' if missing else 'invalid'} subscription key. "
                "Make sure to provide a valid key for an active subscription.",
            )
        now = self.clock.now()
        if not self.oauth.bearer_valid(request.headers.get("authorization", ""), now):
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
            return error(403, f"Out of call volume quota. Quota will be replenished in {hms}.")
        self.calls_today += 1
        return None
