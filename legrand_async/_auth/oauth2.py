"""OAuth2Auth: bearer tokens that refresh themselves, once, and are never lost."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Final

import anyio
import httpx

from .. import _checks
from .._clock import Clock
from .._secrets import scrub
from .._shield import to_the_end
from .._single_flight import SingleFlight, fresh
from .._stores import StoreHealth, in_time
from .._timeouts import longest
from .._transport.classify import CLASSIFICATION, Classification, Kind
from ..errors import (
    AuthError,
    InvalidTokenResponse,
    ReauthorizationRequired,
    TokenRateLimited,
    TokenRefreshTimeout,
    TokenServerError,
    TokenStoreError,
)
from .app import OAuthApp
from .store import LockingTokenStore, TokenStore
from .token import Token

__all__ = ["LOCK_WAIT", "SAVE_RETRY", "SHORT_LIFETIME_SHARE", "OAuth2Auth"]

#: The longest wait for another process's refresh (its lock) when no timeout applies.
LOCK_WAIT: Final = 60.0
#: Seconds between two attempts to save a token the store refused.
SAVE_RETRY: Final = 60.0
#: The refresh margin is at most this share of the token's lifetime (short-lived tokens).
SHORT_LIFETIME_SHARE: Final = 0.1
_MAX_MARGIN: Final = 86400.0
_ROTATED_KEPT: Final = 16


def _about_the_token(response: httpx.Response) -> bool:
    """Whether a 401 may be mended by a new token: not one about the subscription key, nor the
    gateway's quota answer (a refresh would rotate the login for nothing)."""
    record = response.extensions.get(CLASSIFICATION)
    if isinstance(record, Classification) and record.kind is Kind.QUOTA:
        return False
    return b"subscription key" not in response.content.lower()


class OAuth2Auth(httpx.Auth):
    """An ``httpx.Auth`` adding ``Authorization: Bearer`` from ``store``, refreshed by ``app``.

    The token is refreshed ``refresh_margin`` seconds before it expires (never more than a
    tenth of its lifetime), and once more when a request is answered 401 (that request is
    then sent again, once). However many requests wait, a single refresh is in flight, and
    each waits no longer than its own timeout (:class:`TokenRefreshTimeout`). Once sent, a
    refresh always completes, is saved and becomes current, even if the caller that sent it
    is cancelled, by anyio or by asyncio's ``task.cancel()`` (its cancellation takes effect
    then). A store that fails or hangs (:data:`STORE_TIMEOUT`) keeps nothing from working: the
    token stays in memory, ``store_error`` tells why, and saving is tried again. A store with
    a ``lock()`` (``FileTokenStore``) is locked across load, expiry check, refresh and save,
    so processes sharing it refresh once. A refresh token the endpoint refused for good is
    not sent again until the store holds a new login; an unusable answer that rotated it
    (:class:`InvalidTokenResponse`) leaves the new one current, to be refreshed next call.
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
        if isinstance(store, type) or not isinstance(store, TokenStore):
            raise TypeError("store must be a TokenStore (async load() and save())")
        _checks.real("refresh_margin", refresh_margin, minimum=0, maximum=_MAX_MARGIN, unit=" s")
        self.app = app
        self.store = store
        self.refresh_margin = float(refresh_margin)
        self._health = StoreHealth(repr(store), "the token is kept in memory and saved again later")
        self._clock: Clock = clock if clock is not None else app.clock
        self._token: Token | None = None
        self._lifetime: tuple[Token, float] | None = None  # a token and its known lifetime
        self._unsaved: Token | None = None  # the current token, if the store refused it
        self._save_again_at = 0.0
        self._rotated: deque[str] = deque(maxlen=_ROTATED_KEPT)  # refresh tokens spent
        self._flight: SingleFlight[Token] = SingleFlight(
            fallback=AuthError, hands_over=(TokenRefreshTimeout,), timeout=_late
        )
        self._refused: tuple[str, AuthError] | None = None

    @property
    def store_error(self) -> Exception | None:
        """Why the store last failed (a save or a load), None once a save succeeds."""
        return self._health.error

    async def token(self) -> Token:
        """A token good for at least ``refresh_margin`` seconds (loading or refreshing it).

        It waits for a refresh in progress at most the app's ``timeout``.
        """
        return await self._current(self.app._timeout)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        timeout = request.extensions.get("timeout")
        token = await self._current(timeout)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code != 401:
            return
        await response.aread()
        if _about_the_token(response):
            token = await self._renew(stale=token, wait=timeout)
            request.headers["Authorization"] = f"Bearer {token.access_token}"
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuth2Auth works with httpx.AsyncClient only")
        yield request  # pragma: no cover - makes this a generator

    async def _current(self, wait: object) -> Token:
        token = self._token
        if token is not None and not self._expiring(token) and not self._save_due():
            return token
        return await self._renew(stale=None, wait=wait)

    async def _renew(self, *, stale: Token | None, wait: object) -> Token:
        """Load and/or refresh the token, as a single flight shared by concurrent callers;
        ``wait`` is the caller's httpx timeout configuration."""
        seconds = longest(wait)
        deadline = None if math.isinf(seconds) else anyio.current_time() + seconds

        def current() -> Token | None:
            token = self._token
            if (
                token is not None
                and token is not stale
                and not self._expiring(token)
                and not self._save_due()
            ):
                return token
            return None

        # TokenRefreshTimeout from the leader: out of its time before sending, the others try
        # with theirs. A leader cancelled while its refresh was on the wire stops once saved.
        return await self._flight.run(
            None, partial(self._load_or_refresh, stale, deadline), deadline=deadline, ready=current
        )

    def _expiring(self, token: Token) -> bool:
        margin = self.refresh_margin
        if self._lifetime is not None and self._lifetime[0] is token:
            margin = min(margin, SHORT_LIFETIME_SHARE * self._lifetime[1])
        return token.expires_within(self._clock.now(), margin)

    def _save_due(self) -> bool:
        return self._unsaved is not None and self._clock.monotonic() >= self._save_again_at

    async def _load_or_refresh(self, stale: Token | None, deadline: float | None) -> Token:
        async with self._locked(deadline):
            token = await self._load()
            if token is None:
                raise ReauthorizationRequired(
                    "no token is stored: sign in first (legrand-async login, or exchange_code)"
                )
            if (stale is not None and token.access_token == stale.access_token) or (
                self._expiring(token)
            ):
                return await self._refresh(token)
            if self._unsaved is token:
                await self._save(token)
            return token

    @asynccontextmanager
    async def _locked(self, deadline: float | None) -> AsyncIterator[None]:
        """The store's lock, if it has one, waited for until ``deadline`` at most."""
        async with AsyncExitStack() as stack:
            if isinstance(self.store, LockingTokenStore):
                left = LOCK_WAIT if deadline is None else deadline - anyio.current_time()
                try:
                    await stack.enter_async_context(self.store.lock(max(0.0, left)))
                except TimeoutError:
                    raise TokenRefreshTimeout(
                        f"another process is refreshing the token of {self.store!r} (its lock "
                        "is held) past this request's timeout; the next call tries again"
                    ) from None
            yield

    async def _load(self) -> Token | None:
        """The current token: the store's if it is newer than ours (another process's)."""
        token = self._token
        try:
            stored = await in_time(self.store.load)
            if stored is not None and not isinstance(stored, Token):
                raise TokenStoreError(f"{self.store!r}.load() returned a non-Token")
        except Exception as exc:
            if token is None:
                if isinstance(exc, AuthError):
                    raise
                text = scrub(f"{type(exc).__name__}: {exc}", self._secrets())
                raise TokenStoreError(f"{self.store!r} could not be read ({text})") from exc
            self._store_failed("read", exc)  # we hold a token: go on with it
            return token
        if (
            stored is not None
            and (token is None or stored.access_token != token.access_token)
            and stored.refresh_token not in self._rotated
        ):
            if token is not None:  # a newer token, just saved by another process
                lifetime = (stored.expires_at - self._clock.now()).total_seconds()
                self._lifetime = (stored, lifetime)
            self._token, self._unsaved = stored, None
            token = stored
        return token

    async def _refresh(self, old: Token) -> Token:
        if self._refused is not None and self._refused[0] == old.refresh_token:
            # refused for good: don't ask the token endpoint again
            raise fresh(self._refused[1], AuthError)
        # From the moment the request may be on the wire, nothing stops it: the server may
        # rotate the refresh token, and only this answer holds the new one.
        return await to_the_end(partial(self._send_refresh, old))

    async def _send_refresh(self, old: Token) -> Token:
        sent_at = self._clock.now()
        try:
            new = await self.app.refresh(old.refresh_token)
        except InvalidTokenResponse as exc:  # the server misbehaved: try again next time
            if exc.refresh_token is not None:  # ... with the refresh token it rotated to
                kept = Token(old.access_token, exc.refresh_token, sent_at, old.scope)
                await self._adopt(old, kept, lifetime=0.0)
            raise
        except AuthError as exc:
            if not isinstance(exc, TokenRateLimited | TokenServerError):
                self._refused = (old.refresh_token, exc)
            raise
        await self._adopt(old, new, lifetime=(new.expires_at - sent_at).total_seconds())
        return new

    async def _adopt(self, old: Token, new: Token, *, lifetime: float) -> None:
        """Make ``new`` current, saved first (the rotated refresh token before it is used)."""
        if new.refresh_token != old.refresh_token:
            self._rotated.append(old.refresh_token)
        self._lifetime = (new, lifetime)
        await self._save(new)
        self._token = new

    async def _save(self, token: Token) -> None:
        try:
            await in_time(partial(self.store.save, token))
        except Exception as exc:  # full disk, read-only directory, no answer...: keep the token
            self._unsaved = token
            self._save_again_at = self._clock.monotonic() + SAVE_RETRY
            self._store_failed("save the new token to", exc)
        else:
            self._unsaved = None
            self._health.works()

    def _store_failed(self, action: str, exc: Exception) -> None:
        self._health.failed(action, exc, self._secrets())

    def _secrets(self) -> list[str]:
        """Every secret this auth knows, to scrub from text it did not write."""
        known = [self.app._client_secret, *self._rotated]
        for token in (self._token, self._unsaved, self._lifetime and self._lifetime[0]):
            if token:
                known += [token.access_token, token.refresh_token]
        return known

    def __repr__(self) -> str:
        return f"OAuth2Auth(app={self.app!r}, store={self.store!r})"


def _late() -> TokenRefreshTimeout:
    return TokenRefreshTimeout(
        "the token refresh in progress did not finish within this request's timeout; "
        "it goes on, and the next call uses its token (or tries again)"
    )
