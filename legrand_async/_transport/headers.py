"""Pure parsers for what the gateway says in headers and bodies about waiting.

Each is total: any text and any aware ``now`` (``datetime.min`` to ``datetime.max``) give a value
or None, never an exception. A wait is a finite number of seconds >= 0, not capped here: the
retry loop and the limiter cap it (``RetryPolicy.max_retry_after``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from .._secrets import printable

__all__ = ["MAX_REQUEST_ID", "QUOTA_TEXT", "parse_quota_reset", "parse_retry_after", "request_id"]

#: What API Management's daily-quota answer says (lowercase), whatever its status.
QUOTA_TEXT = "out of call volume quota"

_TRY_AGAIN = re.compile(r"try again in (\d{1,9}(?:\.\d{1,6})?) seconds?", re.IGNORECASE)
_REPLENISHED = re.compile(
    r"replenished in (?:(\d{1,3})\.)?(\d{1,3}):(\d{2}):(\d{2})", re.IGNORECASE
)
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-ms-request-id", "apim-request-id")
#: The longest request id kept.
MAX_REQUEST_ID = 128


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def parse_retry_after(headers: Mapping[str, str], text: str | None, now: datetime) -> float | None:
    """Seconds the server asks us to wait, or None when it does not say.

    Reads ``retry-after-ms``, ``Retry-After`` (delta seconds or an HTTP date, relative to the
    aware ``now``) and Azure API Management's "Try again in N seconds." body text, in that order.
    """
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = headers.get(name)
        if raw is not None and (ms := _seconds(raw)) is not None:
            return ms / 1000
    raw = headers.get("retry-after")
    if raw is not None:
        seconds = _seconds(raw)
        if seconds is not None:
            return seconds
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            try:
                return max(0.0, (when - now).total_seconds())
            except OverflowError:  # an offset that moves ``when`` past the datetime range
                return None
    if text:
        match = _TRY_AGAIN.search(text)
        if match:
            return float(match.group(1))
    return None


def parse_quota_reset(text: str | None, now: datetime) -> datetime | None:
    """When "Out of call volume quota. Quota will be replenished in hh:mm:ss." says it resets."""
    if not text:
        return None
    match = _REPLENISHED.search(text)
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    try:
        return (now + delta).astimezone(UTC)
    except OverflowError:  # past datetime.max: no usable time
        return None


def request_id(headers: Mapping[str, str]) -> str | None:
    """The request id the gateway or backend attached to a response, if any.

    At most :data:`MAX_REQUEST_ID` characters (ids are a few dozen), control characters escaped.
    """
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return printable(value[:MAX_REQUEST_ID])
    return None
