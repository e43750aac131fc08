"""The OAuth2 token and how the token endpoint's answer becomes one."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ..errors import ResponseValidationError

__all__ = ["DEFAULT_LIFETIME", "Token", "token_from_response"]

#: Lifetime assumed when the token endpoint gives neither ``expires_on`` nor ``expires_in``.
DEFAULT_LIFETIME = timedelta(seconds=3600)


def _aware_utc(_: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be an aware datetime")


def _non_empty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value


@attrs.frozen(repr=False)
class Token:
    """An access token, the refresh token that renews it, and when the access token expires.

    ``expires_at`` is an aware UTC datetime. ``repr`` and ``str`` never show either token.
    """

    access_token: str = attrs.field(validator=_non_empty)
    refresh_token: str = attrs.field(validator=_non_empty)
    expires_at: datetime = attrs.field(converter=_to_utc, validator=_aware_utc)
    scope: str | None = None

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
        try:
            return cls(
                access_token=data["access_token"],
                refresh_token=data["refresh_token"],
                expires_at=datetime.fromisoformat(data["expires_at"]),
                scope=scope,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a token: {exc!r}") from None

    def __repr__(self) -> str:
        return (
            f"Token(access_token='***', refresh_token='***', "
            f"expires_at={self.expires_at.isoformat()!r}, scope={self.scope!r})"
        )

    __str__ = __repr__


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def token_from_response(
    data: Any, now: datetime, *, previous_refresh_token: str | None = None
) -> Token:
    """A Token from the token endpoint's JSON answer.

    The expiry comes from ``expires_on`` (epoch seconds), else ``expires_in`` (seconds from
    ``now``), else one hour. A refresh answer without a ``refresh_token`` keeps the previous one.
    """
    if not isinstance(data, dict):
        raise ResponseValidationError("the token response is not a JSON object")
    access = data.get("access_token")
    refresh = data.get("refresh_token") or previous_refresh_token
    if not isinstance(access, str) or not access:
        raise ResponseValidationError(
            "the token response has no access token",
            errors=["required value missing @ $.access_token"],
        )
    if not isinstance(refresh, str) or not refresh:
        raise ResponseValidationError(
            "the token response has no refresh token",
            errors=["required value missing @ $.refresh_token"],
        )
    expires_on = _number(data.get("expires_on"))
    expires_in = _number(data.get("expires_in"))
    if expires_on is not None and expires_on > 0:
        expires_at = datetime.fromtimestamp(expires_on, UTC)
    elif expires_in is not None and expires_in > 0:
        expires_at = now + timedelta(seconds=expires_in)
    else:
        expires_at = now + DEFAULT_LIFETIME
    scope = data.get("scope")
    return Token(access, refresh, expires_at, scope if isinstance(scope, str) else None)
