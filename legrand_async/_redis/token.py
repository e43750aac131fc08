"""``RedisTokenStore``: one login for many processes and hosts, refreshed once per expiry.

The token is a JSON string at ``key``; the refresh lock is ``<key>:lock``, taken with
``SET NX PX`` and a random value that proves ownership (only its holder deletes it, by a Lua
compare-and-delete), and that expires after ``lock_timeout`` seconds: a holder that dies
(SIGKILL, a lost host) is replaced then. ``OAuth2Auth`` holds the lock across load, expiry
check, refresh and save (:class:`~legrand_async.LockingTokenStore`), so one process refreshes
and the others read its rotated token.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from .._auth.token import Token
from .._checks import positive
from .._json import NotJSON, loads
from .._shield import to_the_end
from ..errors import TokenStoreError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "RedisTokenStore"]

log = logging.getLogger("legrand_async")

#: Seconds the refresh lock lives without its holder letting go: longer than any refresh
#: (the app's timeout), short enough that a dead holder does not hold the login long.
DEFAULT_LOCK_TIMEOUT = 60.0
#: How often a waiting process tries the lock again (seconds).
_POLL = 0.05
#: A token is a few hundred bytes: a larger value at the key is refused without being parsed.
_MAX_TOKEN = 1024 * 1024

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenStore:
    """The newest token at ``key`` in Redis, shared by every process that names it.

    ``redis`` is a ``redis.asyncio.Redis``; ``timeout`` bounds each round trip (seconds);
    ``lock_timeout`` is how long the refresh lock outlives a holder that died. Where Redis
    cannot be reached to take the lock, the refresh goes on unlocked (logged once per streak):
    a process that cannot reach the store cannot share its token anyway, and the login must
    not stop for it. The token is stored as it is (it holds the refresh token): protect the
    Redis with a password or ACL, and TLS off the host.
    """

    def __init__(
        self,
        redis: Any,
        key: str,
        *,
        timeout: float = 2.0,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError("key must be a non-empty str")
        if not callable(getattr(redis, "register_script", None)):
            raise TypeError("redis must be a redis.asyncio.Redis (it has register_script)")
        self.key = key
        self.lock_key = f"{key}:lock"
        self.timeout = float(positive("timeout", timeout, unit=" seconds"))
        self.lock_timeout = float(positive("lock_timeout", lock_timeout, unit=" seconds"))
        self._redis = redis
        self._release = redis.register_script(RELEASE)
        self._unlocked_warned = False

    async def load(self) -> Token | None:
        with anyio.fail_after(self.timeout):
            value = await self._redis.get(self.key)
        if value is None:
            return None
        if len(value) > _MAX_TOKEN:
            raise self._broken(f"larger than {_MAX_TOKEN} bytes")
        try:
            return Token.from_json(loads(value))
        except NotJSON as exc:
            raise self._broken(exc.reason) from None
        except ValueError as exc:  # not a token (messages never quote the values)
            raise self._broken(str(exc)) from None

    async def save(self, token: Token) -> None:
        if not isinstance(token, Token):
            raise TypeError("save() takes a Token")
        with anyio.fail_after(self.timeout):
            await self._redis.set(self.key, json.dumps(token.to_json()))

    @asynccontextmanager
    async def lock(self, max_wait: float) -> AsyncIterator[None]:
        """Hold ``<key>:lock``; TimeoutError if others hold it ``max_wait`` seconds."""
        mine = secrets.token_hex(16)
        held = await self._take(mine, max_wait)
        try:
            yield
        finally:
            if held:
                await to_the_end(lambda: self._let_go(mine))

    async def _take(self, mine: str, max_wait: float) -> bool:
        deadline = anyio.current_time() + max_wait
        ttl = max(1, round(self.lock_timeout * 1000))
        while True:
            try:
                with anyio.fail_after(self.timeout):
                    if await self._redis.set(self.lock_key, mine, nx=True, px=ttl):
                        self._unlocked_warned = False
                        return True
            except Exception as exc:  # Redis unreachable: go on unlocked (documented)
                if not self._unlocked_warned:
                    self._unlocked_warned = True
                    log.warning(
                        "cannot lock %r (%s): refreshing without the lock", self, type(exc).__name__
                    )
                return False
            if anyio.current_time() >= deadline:
                raise TimeoutError(f"{self.lock_key} stayed locked for {max_wait:g} s")
            await anyio.sleep(min(_POLL, max(0.0, deadline - anyio.current_time())))

    async def _let_go(self, mine: str) -> None:
        try:
            with anyio.fail_after(self.timeout):
                await self._release(keys=[self.lock_key], args=[mine])
        except Exception as exc:  # it expires by itself after lock_timeout
            log.warning("cannot release the lock of %r (%s)", self, type(exc).__name__)

    def _broken(self, reason: str) -> TokenStoreError:
        return TokenStoreError(
            f"{self!r} does not hold a token ({reason}): delete the key, then sign in again"
        )

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self.key!r})"
