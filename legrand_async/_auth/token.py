"""The OAuth2 token and how the token endpoint's answer becomes one."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from .._secrets import refuse_unsafe_characters
from ..errors import InvalidTokenResponse

__all__ = ["DEFAULT_LIFETIME", "MAX_EXPIRES_IN", "MAX_EXPIRES_ON", "Token", "token_from_response"]

#: Lifetime assumed when the token endpoint gives neither ``expires_on`` nor ``expires_in``.
DEFAULT_LIFETIME = timedelta(seconds=3600)
#: The longest ``expires_in`` believed (Azure AD B2C issues access tokens for 5 minutes to 24
#: hours): more is a unit mistake (milliseconds: even 5 minutes is 3.5 days) or garbage.
MAX_EXPIRES_IN = timedelta(days=2)
#: The furthest ``expires_on`` believed: an epoch in milliseconds is millennia away.
MAX_EXPIRES_ON = timedelta(days=3653)


def _aware_utc(_: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be an aware datetime")


def _secret(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string")
    refuse_unsafe_characters(attribute.name, value, header=attribute.name == "access_token")


def _scope(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ValueError("scope must be a string or None")
    refuse_unsafe_characters("scope", value, header=False)  # it is printed and logged


def _to_utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 at +14:00
        raise ValueError("expires_at is out of the datetime range") from None


@attrs.frozen(repr=False)
class Token:
    """An access token, the refresh token that renews it, and when the access token expires.

    ``expires_at`` is an aware UTC datetime. ``repr`` and ``str`` never show either token.
    Blank tokens and tokens holding control characters (CR, LF, NUL, DEL...) raise ValueError.
    """

    access_token: str = attrs.field(validator=_secret)
    refresh_token: str = attrs.field(validator=_secret)
    expires_at: datetime = attrs.field(converter=_to_utc, validator=_aware_utc)
    scope: str | None = attrs.field(default=None, validator=_scope)

    def expires_within(self, now: datetime, seconds: float) -> bool:
        """Whether the access token is expired, or will be within ``seconds`` of ``now``."""
        return self.expires_at - now <= timedelta(seconds=seconds)

    def to_json(self) -> dict[str, Any]:
        """The JSON form token stores write."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: Any) -> Token:
        """The inverse of :meth:`to_json`; ValueError when ``data`` is not a token."""
        if not isinstance(data, dict):
            raise ValueError("a token is a JSON object")
        scope = data.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise ValueError("not a token: scope is not a string")
        required = ("access_token", "refresh_token", "expires_at")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"not a token: {', '.join(missing)} missing")
        try:
            expires_at = datetime.fromisoformat(data["expires_at"])
        except (TypeError, ValueError):
            raise ValueError("not a token: expires_at is not an ISO 8601 time") from None
        return cls(data["access_token"], data["refresh_token"], expires_at, scope)

    def __repr__(self) -> str:
        return (
            f"Token(access_token='***', refresh_token='***', "
            f"expires_at={self.expires_at.isoformat()!r}, scope={self.scope!r})"
        )

    __str__ = __repr__


def _seconds(data: dict[str, Any], key: str) -> float | None:
    """``data[key]`` as a finite number (a JSON number or numeric text), None when absent."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _invalid(f"{key} is not a number", key) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{key} is not a number", key)
    try:
        number = float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        raise _invalid(f"{key} is out of range", key) from None
    if not math.isfinite(number):
        raise _invalid(f"{key} is out of range", key)
    return number


def _invalid(message: str, key: str) -> InvalidTokenResponse:
    return InvalidTokenResponse(
        f"the token response is not usable: {message}", errors=[f"invalid value @ $.{key}"]
    )


def _expiry(data: dict[str, Any], now: datetime) -> datetime:
    """When the access token expires: ``expires_on``, else ``expires_in``, else one hour.

    An ``expires_on`` outside (now, now + MAX_EXPIRES_ON] gives way to a good ``expires_in``
    (the local clock may be wrong); without one, it is refused, as an ``expires_in`` outside
    (0, MAX_EXPIRES_IN] is.
    """
    expires_on = _seconds(data, "expires_on")
    expires_in = _seconds(data, "expires_in")
    ahead = MAX_EXPIRES_ON.total_seconds()
    if expires_on is not None and 0 < expires_on - now.timestamp() <= ahead:
        return datetime.fromtimestamp(expires_on, UTC)
    if expires_in is not None:
        limit = MAX_EXPIRES_IN.total_seconds()
        if not 0 < expires_in <= limit:
            raise _invalid(
                f"expires_in is {expires_in:.6g} s; a token lives more than 0 s and at most "
                f"{limit:.0f} s",
                "expires_in",
            )
        return now + timedelta(seconds=expires_in)
    if expires_on is not None:
        raise _invalid(
            "expires_on is not a time in the next ten years (epoch seconds)", "expires_on"
        )
    return now + DEFAULT_LIFETIME


def _token_text(data: dict[str, Any], key: str, fallback: str | None = None) -> str:
    value = data.get(key)
    if value is None and fallback is not None:
        return fallback
    if value is None:
        raise _invalid(f"there is no {key}", key)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{key} is blank or not a string", key)
    try:
        refuse_unsafe_characters(key, value, header=key == "access_token")
    except ValueError as exc:
        raise _invalid(str(exc), key) from None
    return value


def token_from_response(
    data: Any, now: datetime, *, previous_refresh_token: str | None = None
) -> Token:
    """A Token from the token endpoint's JSON answer; InvalidTokenResponse if it is not one.

    The expiry comes from ``expires_on`` (epoch seconds), else ``expires_in`` (seconds from
    ``now``), else one hour; absurd values (negative, zero, milliseconds, not numbers) are
    refused. A refresh answer without a ``refresh_token`` keeps the previous one; an unusable
    answer with a new one raises with it in ``InvalidTokenResponse.refresh_token``.
    """
    if not isinstance(data, dict):
        raise InvalidTokenResponse("the token response is not a JSON object")
    now = now.astimezone(UTC)  # "now + expires_in" in a local zone is an hour off on DST nights
    refresh = _token_text(data, "refresh_token", previous_refresh_token)
    try:
        access = _token_text(data, "access_token")
        expires_at = _expiry(data, now)
    except InvalidTokenResponse as exc:
        if refresh != previous_refresh_token:  # the server rotated it: it must not be lost
            exc.refresh_token = refresh
        raise
    scope = data.get("scope")
    if not isinstance(scope, str) or not scope.isprintable():
        scope = None  # informative only: an odd one is dropped, not refused
    return Token(access, refresh, expires_at, scope)
