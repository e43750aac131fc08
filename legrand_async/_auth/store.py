"""Where tokens live between runs: a protocol, an in-memory store and a crash-safe file store."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import anyio
import anyio.to_thread
import filelock

from .._files import read_private, write_private
from .._json import NotJSON, loads
from .._shield import to_the_end
from ..errors import TokenStoreError
from .token import Token

__all__ = [
    "MAX_TOKEN_FILE",
    "FileTokenStore",
    "LockingTokenStore",
    "MemoryTokenStore",
    "TokenStore",
]

log = logging.getLogger("legrand_async")

#: A token file is a few hundred bytes: a larger one is refused without being read.
MAX_TOKEN_FILE: Final = 1024 * 1024
#: How often a waiting lock is tried again (each try waits in a worker thread, at most this long).
_LOCK_POLL: Final = 0.1


@runtime_checkable
class TokenStore(Protocol):
    """Keeps the newest token: plug in a keyring, a database or a config entry."""

    async def load(self) -> Token | None:
        """The stored token, or None when there is none."""
        ...

    async def save(self, token: Token) -> None:
        """Replace the stored token; must not return before the token is safely kept."""
        ...


@runtime_checkable
class LockingTokenStore(TokenStore, Protocol):
    """A store that several processes share: ``OAuth2Auth`` holds ``lock()`` across its load,
    expiry check, refresh and save, so one process refreshes and the others read its token."""

    def lock(self, max_wait: float) -> AbstractAsyncContextManager[None]:
        """Hold the store's lock; TimeoutError if another holder keeps it ``max_wait`` seconds."""
        ...


class MemoryTokenStore:
    """Keeps the token in memory only (it is gone when the process ends)."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token

    async def load(self) -> Token | None:
        return self._token

    async def save(self, token: Token) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"MemoryTokenStore({self._token!r})"


class FileTokenStore:
    """Keeps the token in a JSON file, readable by its owner only (mode 0600).

    Writes are atomic: a temporary file in the same directory is written, flushed and fsynced,
    then renamed over the old file (and the directory fsynced), so a crash at any instant
    leaves either the old or the new token, never a broken file; temporary files an
    interrupted write left are removed by this store's first save. ``lock()`` holds ``<file>.lock``
    beside it (``filelock``), so processes sharing the file refresh one at a time.

    Loading raises :class:`~legrand_async.TokenStoreError` (also a ValueError) when the path
    is a directory, a file over 1 MiB (not read), not a UTF-8 JSON token, or unreadable; a
    file that group or others may read is warned about once (it is written 0600 next time).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._mode_warned = False
        self._lock_warned = False
        self._cleaned = False  # leftovers of interrupted writes are removed by the first save

    async def load(self) -> Token | None:
        return await anyio.to_thread.run_sync(self.load_sync)

    async def save(self, token: Token) -> None:
        await anyio.to_thread.run_sync(self.save_sync, token)

    def load_sync(self) -> Token | None:
        """:meth:`load` without an event loop."""
        try:
            content, mode = read_private(self.path, MAX_TOKEN_FILE)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else _oserror(exc)
            raise self._broken(reason) from None
        if mode & 0o077 and not self._mode_warned:
            self._mode_warned = True
            log.warning(
                "%s may be read by other users (mode %03o): it holds a login; it is written "
                "back with mode 0600 on the next save (or chmod 600 it now)",
                self.path,
                mode & 0o777,
            )
        try:
            return Token.from_json(loads(content))  # BOM or not
        except NotJSON as exc:
            reason = "JSON nested too deeply" if exc.reason == "nested too deeply" else exc.reason
            raise self._broken(reason) from None
        except ValueError as exc:  # not a token (messages never quote the values)
            raise self._broken(str(exc)) from None

    def save_sync(self, token: Token) -> None:
        """:meth:`save` without an event loop."""
        if not isinstance(token, Token):
            raise TypeError("save() takes a Token")
        data = json.dumps(token.to_json(), indent=2).encode()
        write_private(self.path, data, clean=not self._cleaned)
        self._cleaned = True

    @asynccontextmanager
    async def lock(self, max_wait: float) -> AsyncIterator[None]:
        """Hold ``<file>.lock`` (waiting in worker threads, never on the event loop).

        TimeoutError after ``max_wait`` seconds. Where the lock file cannot be made (a read-only
        or missing directory) the body runs unlocked: such a store cannot be written anyway.
        """
        lock = filelock.FileLock(self.lock_path, mode=0o600, thread_local=False)
        deadline = anyio.current_time() + max_wait
        try:
            while True:
                wait = max(0.0, min(_LOCK_POLL, deadline - anyio.current_time()))
                try:  # shielded: a lock the thread takes is released, even if we are cancelled
                    if await to_the_end(partial(anyio.to_thread.run_sync, _acquire, lock, wait)):
                        break
                except OSError as exc:
                    self._unlockable(exc)
                    break
                if anyio.current_time() >= deadline:
                    raise TimeoutError(f"{self.lock_path} stayed locked for {max_wait:g} s")
            yield
        finally:
            await to_the_end(partial(anyio.to_thread.run_sync, lock.release))

    def _unlockable(self, exc: OSError) -> None:
        if not self._lock_warned and not isinstance(exc, FileNotFoundError):
            self._lock_warned = True
            log.warning("cannot lock %s (%s): going on without the lock", self.path, _oserror(exc))

    def _broken(self, reason: str) -> TokenStoreError:
        return TokenStoreError(
            f"{self.path} does not hold a token ({reason}): fix or delete it, then sign in again "
            "(legrand-async login)"
        )

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"


def _acquire(lock: filelock.FileLock, wait: float) -> bool:
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        return False
    return True


def _oserror(exc: OSError) -> str:
    """An OSError in words (its strerror, not its repr)."""
    return f"{type(exc).__name__}: {exc.strerror or exc}"
