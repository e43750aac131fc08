"""``legrand-async whoami``: the sign-in saved (user, scopes, expiry), never a token's value."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._auth import Token
from ._config import TOKEN_NAME, load_config, not_logged_in, token_store
from ._output import add_json_flag, print_json

__all__ = ["add_parser", "describe", "saved_login", "user_of", "whoami"]

#: The claims that name the signed-in user, in the order tried (Azure AD B2C tokens).
_USER_CLAIMS = ("name", "emails", "email", "preferred_username", "upn", "oid", "sub")


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``whoami`` on the CLI's subcommands."""
    command = commands.add_parser(
        "whoami",
        parents=[common],
        help="who is signed in: the user, the scopes and when the sign-in expires",
        description="Show the saved sign-in: the user (when the access token names one), the "
        "application's client id, the scopes granted and when the access token expires. It "
        "makes no call and never prints a token.",
    )
    add_json_flag(command)


def describe(token: Token) -> str:
    """One line: when the access token expires and its scope."""
    left = token.expires_at - datetime.now(UTC)
    minutes = int(left.total_seconds() // 60)
    when = f"in {minutes} min" if minutes >= 0 else "expired; it refreshes on the next call"
    expires = token.expires_at.isoformat()
    return f"Access token expires {expires} ({when}); scope: {token.scope or '-'}"


def user_of(token: Token) -> str | None:
    """The user an access token names, when it is a JWT that does (its claims are read, not
    verified: this is for display only); None otherwise."""
    parts = token.access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    for claim in _USER_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, list) and value and isinstance(value[0], str):
            return value[0]
        if isinstance(value, str) and value:
            return value
    return None


def saved_login(directory: Path) -> tuple[dict[str, Any], Token]:
    """The saved config and token; CLIError "not logged in" when either is missing."""
    config = load_config(directory)
    token = token_store(directory).load_sync()
    if not config or token is None:
        raise not_logged_in(directory)
    return config, token


async def whoami(directory: Path, *, as_json: bool = False) -> int:
    """Print the sign-in saved in ``directory``; the exit status, 0."""
    config, token = saved_login(directory)
    user = user_of(token)
    if as_json:
        print_json(
            {
                "user": user,
                "client_id": config.get("client_id"),
                "scopes": token.scope.split() if token.scope else [],
                "expires_at": token.expires_at,
                "expired": token.expires_at <= datetime.now(UTC),
                "token_file": str(directory / TOKEN_NAME),
            }
        )
        return 0
    print(f"User: {user or 'not named by the access token'}")
    print(f"Client id: {config.get('client_id')}")
    print(describe(token))
    print(f"Token file: {directory / TOKEN_NAME}")
    return 0
