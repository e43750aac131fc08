"""The one way to build the transport stack, used by ``LegrandClient`` and ``OAuthApp``.

::

    RetryTransport        retries by the policy (tenacity), on the classification
      RateLimitTransport  spends the limiter on every attempt (when there is a limiter)
        BoundedTransport  one deadline per attempt, body read under the cap, classified once
          wire            httpx.AsyncHTTPTransport, the caller's transport or http_client
"""

from __future__ import annotations

import random

import httpx

from .. import _checks
from .._clock import Clock
from .bounded import DEFAULT_MAX_BODY_SIZE, BoundedTransport
from .ratelimit import Limits, RateLimitTransport
from .retry import RetryPolicy, RetryTransport

__all__ = ["build_stack", "check_body_size", "check_timeout"]


def check_body_size(value: object) -> int:
    """``max_body_size`` checked: an int of bytes >= 1."""
    return _checks.count("max_body_size", value)


def check_timeout(value: object) -> None:
    """``timeout`` checked: None (no limit), seconds > 0, or an ``httpx.Timeout`` of such phases.

    Zero, negative, NaN and infinite values are refused: each would fail every call or hide
    "no limit", which is None.
    """
    if isinstance(value, httpx.Timeout):
        for name, seconds in value.as_dict().items():
            if seconds is not None:
                _checks.positive(f"timeout.{name}", seconds, unit=" seconds")
    elif value is not None:
        _checks.positive("timeout", value, unit=" seconds")


def build_stack(
    wire: httpx.AsyncBaseTransport,
    *,
    retry: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    rate_limit: Limits | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> RetryTransport:
    """The library's transports around ``wire``; closing the result closes ``wire``."""
    stack: httpx.AsyncBaseTransport = BoundedTransport(
        wire, max_body_size=check_body_size(max_body_size), clock=clock
    )
    if rate_limit is not None:
        rate_limit.bind(clock)
        stack = RateLimitTransport(stack, rate_limit, max_pause=retry.max_retry_after)
    return RetryTransport(stack, retry, clock=clock, rng=rng)
