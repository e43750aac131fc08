"""Every failure the library raises.

::

    LegrandError                  base: .status_code .code .message (None where not applicable)
    ├── TransportError            network failure after retries (wraps the httpx error); .attempts
    ├── APIError                  an HTTP error status: .request_id .body .attempts .retry_after
    │   ├── BadRequest 400 · Unauthorized 401 · Forbidden 403 · NotFound 404 · NotAcceptable 406
    │   ├── RequestTimeout 408 (cloud to device) · Conflict 409 · RateLimited 429
    │   ├── WrongInput 430 · AppPasswordExpired 469 · TermsExpired 470 · DeviceBusy 486
    │   └── ServerError 5xx
    ├── QuotaExhausted            the day's quota is spent (or a wait exceeds max_wait); .resets_at
    │   └── ServerQuotaExhausted  the gateway said so ("Out of call volume quota"), also a
    │                             Forbidden: its 403 and every call failed fast after it
    ├── QuotaStoreUnavailable     a shared quota store (Redis) did not answer in time: nothing
    │                             was sent; .store names it
    ├── AuthError                 getting or refreshing a token failed
    │   ├── ClientSecretExpired (AADB2C90085) · AuthorizationCodeExpired (AADB2C90080)
    │   ├── RedirectUriMismatch · ReauthorizationRequired (other invalid_grant, no token)
    │   ├── StateMismatch         the redirect's state is not the one sent (raised before sending)
    │   ├── TokenRateLimited (also a RateLimited) · TokenServerError (also a ServerError)
    │   ├── InvalidTokenResponse  the token endpoint's answer is not a usable token (also a
    │   │                         ResponseValidationError): not JSON, blank tokens, absurd expiry
    │   ├── TokenRefreshTimeout   a caller's timeout ran out waiting for a refresh (in flight here
    │   │                         or in another process); also a TransportError; try again later
    │   └── TokenStoreError       the token store holds no readable token (a directory, a huge
    │                             or broken file, a read error); also a ValueError
    └── ResponseValidationError   the body is not JSON or does not fit the model; .errors (paths)
        └── ResponseTooLarge      the decoded body is longer than the client's max_body_size

``str(error)`` shows the status, the message and the request id; it never shows a token,
a client secret or the subscription key (the message is scrubbed of the request's secrets).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = [
    "APIError",
    "AppPasswordExpired",
    "AuthError",
    "AuthorizationCodeExpired",
    "BadRequest",
    "ClientSecretExpired",
    "Conflict",
    "DeviceBusy",
    "Forbidden",
    "InvalidTokenResponse",
    "LegrandError",
    "NotAcceptable",
    "NotFound",
    "QuotaExhausted",
    "QuotaStoreUnavailable",
    "RateLimited",
    "ReauthorizationRequired",
    "RedirectUriMismatch",
    "RequestTimeout",
    "ResponseTooLarge",
    "ResponseValidationError",
    "ServerError",
    "ServerQuotaExhausted",
    "StateMismatch",
    "TermsExpired",
    "TokenRateLimited",
    "TokenRefreshTimeout",
    "TokenServerError",
    "TokenStoreError",
    "TransportError",
    "Unauthorized",
    "WrongInput",
]


class LegrandError(Exception):
    """Base class of every error raised by legrand_async."""

    status_code: int | None
    code: int | str | None
    message: str

    def __init__(
        self, message: str, *, status_code: int | None = None, code: int | str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:
        return self.message


class TransportError(LegrandError):
    """The request could not be completed on the network (after retries)."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class APIError(LegrandError):
    """The API answered with an error status."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: int | str | None = None,
        request_id: str | None = None,
        body: Any = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.request_id = request_id
        self.body = body
        self.attempts = attempts
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = f"{self.status_code} {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class BadRequest(APIError):
    """400: something is wrong in the request body or headers."""


class Unauthorized(APIError):
    """401: missing/expired token or subscription key, or the user may not access the resource."""


class Forbidden(APIError):
    """403: operation forbidden."""


class NotFound(APIError):
    """404: unknown resource, or the gateway/thermostat is offline."""


class NotAcceptable(APIError):
    """406: request not acceptable (Home + Control)."""


class RequestTimeout(APIError):
    """408: the cloud timed out talking to the device."""


class Conflict(APIError):
    """409: the resource already exists (e.g. a C2C subscription for that URL)."""


class RateLimited(APIError):
    """429: the gateway's short-term rate limit; ``.retry_after`` is the wait it asked for."""


class WrongInput(APIError):
    """430: wrong input parameters (set status)."""


class AppPasswordExpired(APIError):
    """469: the password of the official Thermostat app expired; renew it in that app."""


class TermsExpired(APIError):
    """470: the official app's terms and conditions expired; accept them again in that app."""


class DeviceBusy(APIError):
    """486: the thermostat's user interface is busy (someone is touching it)."""


class ServerError(APIError):
    """5xx: the cloud failed."""


class QuotaExhausted(LegrandError):
    """The day's quota is spent, or the limiter would wait longer than ``max_wait``.

    ``.resets_at`` (aware UTC) tells when calls come back. Raised by the local limiter without
    a request; when the gateway said it, the error is a :class:`ServerQuotaExhausted`.
    """

    def __init__(
        self,
        message: str,
        *,
        resets_at: datetime | None = None,
        status_code: int | None = None,
        code: int | str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.resets_at = resets_at
        self.request_id = request_id


class QuotaStoreUnavailable(LegrandError):
    """A shared quota store that decides every call (``RedisQuotaStore``, a shared
    ``FileQuotaStore``) failed or did not answer within its timeout: the call was not sent.

    ``.store`` is the store's repr (never a password). Nothing is lost or counted twice: a
    decision whose answer was lost is set right by the next call that reaches the store.
    A store made with ``when_unavailable="memory"`` never raises this (the limiter goes on
    with its in-memory limits meanwhile).
    """

    def __init__(self, message: str, *, store: str = "") -> None:
        super().__init__(message)
        self.store = store


class ServerQuotaExhausted(QuotaExhausted, Forbidden):
    """The gateway's 403 "Out of call volume quota": a QuotaExhausted that is also a Forbidden.

    Raised for that answer and for every call the limiter then fails fast without sending,
    until ``.resets_at``; ``.body`` is the gateway's answer, ``.attempts`` the attempts made.
    """

    def __init__(self, message: str, *, resets_at: datetime | None = None, **details: Any) -> None:
        APIError.__init__(self, message, **details)  # status_code, code, request_id, body, ...
        self.resets_at = resets_at


class ResponseValidationError(LegrandError):
    """The response body was not valid JSON or did not fit the expected model."""

    def __init__(
        self, message: str, *, errors: Sequence[str] = (), status_code: int | None = None
    ) -> None:
        details = "; ".join(errors)
        super().__init__(f"{message}: {details}" if details else message, status_code=status_code)
        self.errors = list(errors)


class ResponseTooLarge(ResponseValidationError):
    """The decoded body is longer than the client's ``max_body_size`` (it was not read further).

    ``.status_code`` is the answer's status, whatever it was.
    """


class AuthError(LegrandError):
    """Getting or refreshing a token failed: the token endpoint refused, or the flow is wrong."""


class ClientSecretExpired(AuthError):
    """AADB2C90085: the app's client secret expired (secrets last one year)."""


class AuthorizationCodeExpired(AuthError):
    """AADB2C90080: the authorization code expired or was used already; sign in again."""


class RedirectUriMismatch(AuthError):
    """The redirect URI is not one of the app's registered Reply URLs (exact match)."""


class ReauthorizationRequired(AuthError):
    """The login is gone (refresh token refused, or no token stored): sign in again."""


class StateMismatch(AuthError):
    """The redirect's ``state`` is not the one the authorization URL carried."""


class TokenRateLimited(RateLimited, AuthError):
    """429 from the token endpoint (after retries)."""


class TokenServerError(ServerError, AuthError):
    """5xx from the token endpoint (after retries)."""


class InvalidTokenResponse(AuthError, ResponseValidationError):
    """The token endpoint answered 200 with something that is not a usable token.

    ``refresh_token`` is the answer's new refresh token when it held a usable one (the server
    has rotated the old one away), so that it is not lost; ``OAuth2Auth`` keeps it.
    """

    refresh_token: str | None = None


class TokenRefreshTimeout(TransportError, AuthError):
    """A caller's timeout ran out while a token refresh it waited for was still in progress."""


class TokenStoreError(AuthError, ValueError):
    """The token store does not hold a readable token (the file is broken, huge or unreadable)."""


STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    406: NotAcceptable,
    408: RequestTimeout,
    409: Conflict,
    429: RateLimited,
    430: WrongInput,
    469: AppPasswordExpired,
    470: TermsExpired,
    486: DeviceBusy,
}


def error_class(status_code: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return STATUS_ERRORS.get(status_code, ServerError)
    return STATUS_ERRORS.get(status_code, APIError)
