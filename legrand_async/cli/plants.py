"""``legrand-async plants``: the Smarther plants of the saved login, one ``id<TAB>name`` a line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._auth import OAuth2Auth
from .._client import DEFAULT_BASE_URL, LegrandClient
from ._config import app_from, saved_config, token_store

__all__ = ["add_parser", "plants"]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``plants`` on the CLI's subcommands."""
    commands.add_parser("plants", parents=[common], help="list Smarther plants")


async def plants(directory: Path) -> int:
    """List the plants with the login saved in ``directory``; the exit status, 0."""
    config = saved_config(directory)
    auth = OAuth2Auth(app_from(config), token_store(directory))
    async with LegrandClient(
        subscription_key=config["subscription_key"],
        auth=auth,
        base_url=config.get("base_url", DEFAULT_BASE_URL),
    ) as client:
        found = await client.smarther.list_plants()
    for plant in found:
        print(f"{plant.id}\t{plant.name}")
    if not found:
        print("No Smarther plants on this account.")
    return 0
