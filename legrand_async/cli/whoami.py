"""``legrand-async whoami`` (or ``status``): the saved token's expiry and scope, never its value."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._auth import Token
from ._config import TOKEN_NAME, load_config, not_logged_in, token_store

__all__ = ["NAMES", "add_parser", "describe", "whoami"]

#: The command's names: ``status`` is the same command.
NAMES = ("whoami", "status")


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``whoami`` and ``status`` on the CLI's subcommands."""
    for name in NAMES:
        commands.add_parser(name, parents=[common], help="the saved token's expiry and scope")


def describe(token: Token) -> str:
    left = token.expires_at - datetime.now(UTC)
    minutes = int(left.total_seconds() // 60)
    when = f"in {minutes} min" if minutes >= 0 else "expired; it refreshes on the next call"
    expires = token.expires_at.isoformat()
    return f"Access token expires {expires} ({when}); scope: {token.scope or '-'}"


async def whoami(directory: Path) -> int:
    """Print the login saved in ``directory``; the exit status, 0."""
    config = load_config(directory)
    token = token_store(directory).load_sync()
    if not config or token is None:
        raise not_logged_in(directory)
    print(f"Client id: {config.get('client_id')}")
    print(describe(token))
    print(f"Token file: {directory / TOKEN_NAME}")
    return 0
