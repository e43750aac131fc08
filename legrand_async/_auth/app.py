"""OAuthApp: the registered application and its authorization-code flow (Azure AD B2C "ELIOT")."""

from __future__ import annotations

import hmac
import ipaddress
import random
import secrets
from collections.abc import Sequence
from typing import Final
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

from .._clock import Clock, SystemClock
from .._closing import AsyncClosing, current_loop
from .._responses import classification, error_from_exception, server_answer
from .._secrets import refuse_unsafe_characters, scrub, server_text
from .._transport.borrowed import Borrowed
from .._transport.classify import EXPECTS_JSON, Classification, Kind
from .._transport.retry import ATTEMPTS, IDEMPOTENT, RetryPolicy
from .._transport.stack import build_stack, check_timeout
from .._urls import checked_url
from ..errors import (
    AuthError,
    AuthorizationCodeExpired,
    ClientSecretExpired,
    InvalidTokenResponse,
    ReauthorizationRequired,
    RedirectUriMismatch,
    StateMismatch,
    TokenRateLimited,
    TokenServerError,
)
from .token import Token, token_from_response

__all__ = ["DEFAULT_AUTH_URL", "DEFAULT_SCOPES", "SECRETS_PAGE", "OAuthApp"]

DEFAULT_AUTH_URL: Final = "https://partners-login.eliotbylegrand.com"
#: Scopes asked for by default: every family the library speaks (the app must be registered
#: with them): Smarther, plugs (Multisocket, Home + Control), lights, video door entry.
DEFAULT_SCOPES: Final = (
    "comfort.read",
    "comfort.write",
    "plug.read",
    "plug.write",
    "light.write",
    "audiovideoterminal.read",
)
SECRETS_PAGE: Final = "https://mysettings.developer.legrand.com/Applications/Owned"


class OAuthApp(AsyncClosing):
    """An application registered on the Legrand developer portal.

    ``authorization_url()`` starts the flow in a browser, ``exchange_code()`` turns the redirect
    into a :class:`Token`, ``refresh()`` renews it. Token requests are retried (5xx, 429,
    connect errors) by ``retry``, like data calls; ``repr`` never shows the client secret.

    The app owns one pooled HTTP client for its token requests, made at the first of them (the
    CA bundle loaded once, connections kept alive between refreshes): close it with
    ``await app.aclose()`` or ``async with OAuthApp(...) as app:``. A ``transport`` you pass
    is never closed by the app. A request after ``aclose()`` opens a new pool.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        auth_url: str = DEFAULT_AUTH_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen
        timeout: float | httpx.Timeout | None = 20.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
            refuse_unsafe_characters(name, value, header=False)  # both go in the form
        checked_url("redirect_uri", redirect_uri, query=True)  # a registered Reply URL
        if isinstance(scopes, str):
            raise TypeError("scopes is a sequence of scope names, not a string")
        scopes = tuple(scopes)
        if not all(isinstance(scope, str) and scope.strip() for scope in scopes):
            raise TypeError("scopes holds scope names: non-empty strings")
        if not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        check_timeout(timeout)
        self.client_id = client_id.strip()
        self._client_secret = client_secret.strip()
        self.redirect_uri = redirect_uri
        self.scopes = tuple(scopes)
        self.auth_url = _checked_auth_url(auth_url, transport)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._transport = transport
        self._retry = retry
        self._timeout = timeout
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter only
        self._http: httpx.AsyncClient | None = None
        self._http_loop: object = None  # the event loop the pooled client's connections are in

    def _client(self) -> httpx.AsyncClient:
        """The app's pooled client for token requests: made once per event loop (and again
        after ``aclose()``); one left by an earlier loop is dropped, its connections with it."""
        loop = current_loop()
        if self._http is None or self._http_loop is not loop:
            wire = Borrowed(self._transport) if self._transport else httpx.AsyncHTTPTransport()
            stack = build_stack(wire, retry=self._retry, clock=self.clock, rng=self._rng)
            self._http = httpx.AsyncClient(transport=stack, timeout=self._timeout)
            self._http_loop = loop
        return self._http

    async def aclose(self) -> None:
        """Close the app's connections (never a ``transport`` you passed)."""
        http, self._http = self._http, None
        if http is not None and self._http_loop is current_loop():
            await http.aclose()

    def authorization_url(self, state: str | None = None) -> tuple[str, str]:
        """The URL to open in a browser, and the ``state`` it carries (256 random bits if None)."""
        if state is None:
            state = secrets.token_urlsafe(32)
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "state": state,
            "redirect_uri": self.redirect_uri,
        }
        if self.scopes:
            params["scope"] = " ".join(self.scopes)
        return f"{self.auth_url}/authorize?{urlencode(params, quote_via=quote)}", state

    async def exchange_code(
        self, redirect_url_or_code: str, *, expected_state: str | None = None
    ) -> Token:
        """Redeem the code of the redirect (the whole redirect URL, or a bare code).

        With ``expected_state``, the redirect's ``state`` must match it (StateMismatch otherwise,
        before any request); a bare code has no state, so it cannot pass that check.
        """
        if expected_state is not None and not isinstance(expected_state, str):
            raise TypeError("expected_state is the str that authorization_url() returned")
        code, state = parse_redirect(redirect_url_or_code)
        if expected_state is not None:
            if state is None:
                raise StateMismatch("the redirect has no state to check: paste the whole URL")
            if not hmac.compare_digest(state.encode(), expected_state.encode()):
                raise StateMismatch("the redirect's state is not the one sent: start again")
        form = {"client_id": self.client_id, "grant_type": "authorization_code", "code": code}
        return await self._token_request(form, secret_values=(code,))

    async def refresh(self, refresh_token: str) -> Token:
        """A new token from a refresh token (the answer's rotated refresh token, or the same)."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ValueError("refresh_token must be a non-empty string")
        form = {
            "client_id": self.client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        return await self._token_request(
            form, secret_values=(refresh_token,), previous_refresh_token=refresh_token
        )

    async def _token_request(
        self,
        form: dict[str, str],
        *,
        secret_values: tuple[str, ...],
        previous_refresh_token: str | None = None,
    ) -> Token:
        form["client_secret"] = self._client_secret
        http = self._client()
        request = http.build_request(
            "POST",
            f"{self.auth_url}/token",
            data=form,
            headers={"Accept": "application/json"},
            # A code is single-use and a refresh token rotates: never re-sent after a read
            # fault. The answer is parsed once, in the transport's classification.
            extensions={IDEMPOTENT: False, EXPECTS_JSON: True},
        )
        hidden = (self._client_secret, *secret_values)
        try:
            response = await http.send(request)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            error = error_from_exception(
                exc, request, secrets=hidden, undecodable=InvalidTokenResponse
            )
            raise error from error.__cause__
        now = self.clock.now()
        record = classification(response)
        if response.status_code != 200:
            raise token_error(response, record, secrets=hidden)
        data = record.body
        if record.kind is not Kind.OK or data is None:
            why = scrub(record.message, hidden) if record.message else None
            raise InvalidTokenResponse(
                f"the token response is not JSON ({why or record.kind.value})",
                status_code=response.status_code,
            )
        return token_from_response(data, now, previous_refresh_token=previous_refresh_token)

    def __repr__(self) -> str:
        return (
            f"OAuthApp(client_id={self.client_id!r}, client_secret='***', "
            f"redirect_uri={self.redirect_uri!r}, scopes={self.scopes!r})"
        )


def _checked_auth_url(auth_url: str, transport: httpx.AsyncBaseTransport | None) -> str:
    """``auth_url`` without its final slash; ValueError unless the client secret stays safe.

    The secret goes to the token endpoint in every request, so the URL must be absolute https;
    plain http only reaches a loopback host (a local simulator) or a transport of the caller's
    that is not the network one (the in-process simulator, a test double).
    """
    url = checked_url("auth_url", auth_url)
    host = url.host
    on_network = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
    if url.scheme == "http" and on_network and not _loopback(host):
        raise ValueError(
            "auth_url must be https: the client secret must not cross the network in clear "
            "(plain http is accepted for localhost / 127.0.0.1 only)"
        )
    return auth_url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_redirect(value: str) -> tuple[str, str | None]:
    """``(code, state)`` from a pasted redirect URL (query or fragment), or a bare code."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("paste the redirect URL (or the code)")
    value = value.strip()
    if "=" not in value and "://" not in value:
        return value, None
    parts = urlsplit(value if "://" in value or value.startswith("?") else "?" + value)
    params = parse_qs(parts.query) or parse_qs(parts.fragment)
    if "error" in params:
        error = params["error"][0]
        description = params.get("error_description", [""])[0]
        raise AuthError(f"the sign-in failed: {error}: {description}".rstrip(": "), code=error)
    codes = params.get("code")
    if not codes or not codes[0]:
        raise ValueError("the redirect URL has no code: paste the URL the browser ended on")
    states = params.get("state")
    return codes[0], states[0] if states else None


def token_error(
    response: httpx.Response, record: Classification, *, secrets: Sequence[str]
) -> AuthError:
    """The AuthError for a failed token request, from its classification."""
    status = response.status_code
    description, code, _, rid = server_answer(response, record, secrets=secrets)
    if isinstance(code, str):
        code = server_text(code, limit=100)
    text = f"{code} {description}"
    if "AADB2C90085" in text:
        return ClientSecretExpired(
            "the app's client secret has expired (AADB2C90085; secrets last one year): "
            f"create a new one at {SECRETS_PAGE} (your app, Secrets) and use it",
            status_code=status,
            code="AADB2C90085",
        )
    if "AADB2C90080" in text:
        return AuthorizationCodeExpired(
            "the authorization code has expired or was used already (AADB2C90080): sign in again",
            status_code=status,
            code="AADB2C90080",
        )
    lowered = text.lower()
    if "reply url" in lowered or "redirect_uri" in lowered or "AADB2C90006" in text:
        return RedirectUriMismatch(
            f"the redirect URI is not a registered Reply URL of the app (exact match, trailing "
            f"slash included): {description}",
            status_code=status,
            code=code,
        )
    attempts = response.request.extensions.get(ATTEMPTS, 1)
    if status == 429:
        return TokenRateLimited(
            description,
            status_code=status,
            code=code,
            request_id=rid,
            attempts=attempts,
            retry_after=record.retry_after,
        )
    if status >= 500:
        return TokenServerError(
            description,
            status_code=status,
            code=code,
            request_id=rid,
            attempts=attempts,
        )
    if code == "invalid_grant":
        return ReauthorizationRequired(
            f"the login is no longer valid, sign in again: {description}",
            status_code=status,
            code=code,
        )
    return AuthError(f"the token endpoint refused: {description}", status_code=status, code=code)
