"""Where tokens live between runs: a protocol, an in-memory store and a crash-safe file store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio.to_thread

from .._files import write_private
from .token import Token

__all__ = ["FileTokenStore", "MemoryTokenStore", "TokenStore"]


@runtime_checkable
class TokenStore(Protocol):
    """Keeps the newest token: plug in a keyring, a database or a config entry."""

    async def load(self) -> Token | None:
        """The stored token, or None when there is none."""
        ...

    async def save(self, token: Token) -> None:
        """Replace the stored token; must not return before the token is safely kept."""
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
    leaves either the old or the new token, never a broken file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def load(self) -> Token | None:
        return await anyio.to_thread.run_sync(self.load_sync)

    async def save(self, token: Token) -> None:
        await anyio.to_thread.run_sync(self.save_sync, token)

    def load_sync(self) -> Token | None:
        """:meth:`load` without an event loop. ValueError when the file is not a token."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise ValueError(f"{self.path} does not hold a token: not UTF-8 text") from None
        try:
            return Token.from_json(json.loads(text))
        except ValueError as exc:
            raise ValueError(f"{self.path} does not hold a token: {exc}") from None

    def save_sync(self, token: Token) -> None:
        """:meth:`save` without an event loop."""
        if not isinstance(token, Token):
            raise TypeError("save() takes a Token")
        write_private(self.path, json.dumps(token.to_json(), indent=2).encode())

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

