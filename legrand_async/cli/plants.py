"""``legrand-async plants``: the Smarther plants of the saved login, as a table or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._config import client_from
from ._output import add_json_flag, print_json, print_table

__all__ = ["add_parser", "plants"]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``plants`` on the CLI's subcommands."""
    command = commands.add_parser(
        "plants",
        parents=[common],
        help="list the Smarther plants of the saved login",
        description="List the Smarther plants (homes) of the saved login: one API call.",
    )
    add_json_flag(command, "print JSON instead of a table, for scripts")


async def plants(directory: Path, *, as_json: bool = False) -> int:
    """List the plants with the login saved in ``directory``; the exit status, 0."""
    async with client_from(directory) as client:
        found = await client.smarther.list_plants()
    if as_json:
        print_json([{"id": plant.id, "name": plant.name} for plant in found])
    elif not found:
        print("No Smarther plants on this account.")
    else:
        print_table("Smarther plants", ["plant", "name"], [[p.id, p.name] for p in found])
    return 0
