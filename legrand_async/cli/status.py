"""``legrand-async status``: today's quota as the commands counted it, and the token's health."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._auth import Token
from ._config import QUOTA_NAME, rate_limit
from ._output import add_json_flag, for_how_long, print_json
from .whoami import saved_login

__all__ = ["add_parser", "health", "status"]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``status`` on the CLI's subcommands."""
    command = commands.add_parser(
        "status",
        parents=[common],
        help="today's quota (calls used, calls left, next reset) and the token's health",
        description="Show the daily quota as this machine's commands counted it (calls used "
        "today, calls left of the Starter Kit's 500, when the count resets) and the health of "
        "the saved token. It makes no call.",
    )
    add_json_flag(command)


def health(token: Token, now: datetime) -> str:
    """``ok`` (valid a while), ``expiring`` (within five minutes) or ``expired`` (it refreshes
    on the next call, with the refresh token)."""
    left = (token.expires_at - now).total_seconds()
    if left <= 0:
        return "expired"
    return "expiring" if left < 300 else "ok"


async def status(directory: Path, *, as_json: bool = False) -> int:
    """Print the quota and token health of the login saved in ``directory``; exit status 0."""
    _, token = saved_login(directory)
    limit = rate_limit(directory)
    await limit.load()
    quota = limit.snapshot()
    now = datetime.now(UTC)
    state = health(token, now)
    left = (token.expires_at - now).total_seconds()
    if as_json:
        print_json(
            {
                "quota": {
                    "used": quota.used_today,
                    "left": quota.remaining_today,
                    "per_day": quota.per_day,
                    "resets_at": quota.resets_at,
                    "paused_until": quota.paused_until,
                },
                "token": {"health": state, "expires_at": token.expires_at},
            }
        )
        return 0
    print(
        f"Quota today: {quota.used_today} call{'' if quota.used_today == 1 else 's'} used, "
        f"{quota.remaining_today} left of "
        f"{quota.per_day}; resets {quota.resets_at.isoformat()}"
    )
    if quota.paused_until is not None:
        print(f"Paused by the gateway until {quota.paused_until.isoformat()}")
    print(f"  (counted in {directory / QUOTA_NAME} by this machine's commands)")
    if state == "expired":
        print("Token: expired; it refreshes on the next call")
    else:
        print(f"Token: {state}, valid {for_how_long(left)} more")
    return 0
