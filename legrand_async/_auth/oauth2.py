"""OAuth2Auth: bearer tokens that refresh themselves, once, and are never lost."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import anyio
import httpx

from .._clock import Clock
from ..errors import AuthError, ReauthorizationRequired, TokenRateLimited, TokenServerError
from .app import OAuthApp
from .store import TokenStore
from .token import Token

__all__ = ["OAuth2Auth"]


class _Flight:
    """One load-or-refresh in progress; the callers that arrive meanwhile share its outcome."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: Token | None = None
        self.error: Exception | None = None


class OAuth2Auth(httpx.Auth):
    """An ``httpx.Auth`` adding ``Authorization: Bearer`` from ``store``, refreshed by ``app``.

    The token is refreshed ``refresh_margin`` seconds before it expires, and once more when a
    request is answered 401 (that request is then sent again, once). However many requests
    wait, a single refresh is in flight; the rotated refresh token is saved to the store before
    the new access token is used. A 401 about the subscription key does not trigger a refresh.
    A refresh token the endpoint refused for good (expired secret, revoked grant) is not sent
    again: later calls raise the same error until the store holds a new login.
    """

    def __init__(
        self,
        app: OAuthApp,
        store: TokenStore,
        *,
        refresh_margin: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(app, OAuthApp):
            raise TypeError("app must be an OAuthApp")
        if not refresh_margin >= 0:
            raise ValueError("refresh_margin must be >= 0")
        self.app = app
        self.store = store
        self.refresh_margin = refresh_margin
        self._clock: Clock = clock if clock is not None else app.clock
        self._token: Token | None = None
        self._flight: _Flight | None = None
        self._refused: tuple[str, AuthError] | None = None

    async def token(self) -> Token:
        """A token good for at least ``refresh_margin`` seconds (loading or refreshing it)."""
        token = self._token
        if token is not None and not token.expires_within(self._clock.now(), self.refresh_margin):
            return token
        return await self._renew(stale=None)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code != 401:
            return
        await response.aread()
        if b"subscription key" not in response.content:
            token = await self._renew(stale=token)
            request.headers["Authorization"] = f"Bearer {token.access_token}"
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuth2Auth works with httpx.AsyncClient only")
        yield request  # pragma: no cover - makes this a generator

    async def _renew(self, *, stale: Token | None) -> Token:
        """Load and/or refresh the token, as a single flight shared by concurrent callers."""
        while True:
            current = self._token
            if current is not None and current is not stale and not self._expiring(current):
                return current
            flight = self._flight
            if flight is None:
                break
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.token is not None:
                return flight.token
            # The leader was cancelled: take over.
        flight = self._flight = _Flight()
        try:
            flight.token = await self._load_or_refresh(stale)
            return flight.token
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            self._flight = None
            flight.done.set()

    def _expiring(self, token: Token) -> bool:
        return token.expires_within(self._clock.now(), self.refresh_margin)

    async def _load_or_refresh(self, stale: Token | None) -> Token:
        token = self._token
        if token is None or token is stale or self._expiring(token):
            # First use, or the store may hold a newer token (another process refreshed).
            stored = await self.store.load()
            if stored is not None and (token is None or stored.access_token != token.access_token):
                token = self._token = stored
        if token is None:
            raise ReauthorizationRequired(
                "no token is stored: sign in first (legrand-async login, or exchange_code)"
            )
        if (stale is not None and token.access_token == stale.access_token) or self._expiring(
            token
        ):
            token = await self._refresh(token)
        return token

    async def _refresh(self, old: Token) -> Token:
        if self._refused is not None and self._refused[0] == old.refresh_token:
            raise self._refused[1]  # refused for good: don't ask the token endpoint again
        try:
            new = await self.app.refresh(old.refresh_token)
        except AuthError as exc:
            if not isinstance(exc, TokenRateLimited | TokenServerError):
                self._refused = (old.refresh_token, exc)
            raise
        await self.store.save(new)  # persist the rotated refresh token before using the new one
        self._token = new
        return new

    def __repr__(self) -> str:
        return f"OAuth2Auth(app={self.app!r}, store={self.store!r})"
