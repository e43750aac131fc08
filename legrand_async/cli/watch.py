"""``legrand-async watch``: stream the thermostats' changes, as lines or JSON, until Ctrl-C.

It runs the poller (``client.poll_thermostats()``) with the saved login: every thermostat is
read once, then again within the daily quota, and each change is printed as it is seen.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .._poller import StatusChange
from ._config import client_from
from ._output import add_json_flag, print_json, show
from .thermostats import row

__all__ = ["add_parser", "line", "watch"]


def _above_zero(convert: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: ``convert``'s value of the text, refused unless above 0."""

    def parse(text: str) -> float:
        value = convert(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value

    return parse


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``watch`` on the CLI's subcommands."""
    command = commands.add_parser(
        "watch",
        parents=[common],
        help="stream the thermostats' changes until Ctrl-C",
        description="Read every Smarther thermostat of the saved login, then keep reading them "
        "within the daily quota, and print each change as it is seen (the first reading of "
        "each thermostat too), until Ctrl-C.",
    )
    add_json_flag(command, "print one JSON object a line for each change, for scripts")
    command.add_argument(
        "--interval",
        type=_above_zero(float),
        metavar="SECONDS",
        help="read each thermostat no more often than this (default: as often as the daily "
        "quota allows)",
    )
    command.add_argument(
        "--count",
        type=_above_zero(int),
        metavar="N",
        help="stop after N changes (default: run until Ctrl-C)",
    )


def _record(change: StatusChange, now: datetime) -> dict[str, Any]:
    found = row(change.plant_id, "", change.module_id, "", change.current)
    del found["plant"], found["thermostat"]
    previous = change.previous
    return {
        "time": now,
        **found,
        "previous": None
        if previous is None
        else {"mode": previous.mode.value, "setpoint": previous.setpoint},
    }


def line(change: StatusChange, now: datetime) -> str:
    """One change as a line: time, plant, thermostat, mode, setpoint, temperature, humidity."""
    status = change.current
    was = "" if change.previous is None else f" (was {show(change.previous.mode)})"
    return (
        f"{now:%H:%M:%S} plant {change.plant_id[:8]} thermostat {change.module_id[:8]}: "
        f"{show(status.mode)}{was}, setpoint {show(status.setpoint)}, "
        f"temperature {show(status.temperature)}, humidity {show(status.humidity)}, "
        f"online {show(status.online)}"
    )


async def watch(
    directory: Path,
    *,
    as_json: bool = False,
    interval: float | None = None,
    count: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Print each change seen with the login saved in ``directory``; the exit status, 0
    (Ctrl-C ends it: the CLI's exit status is then 130)."""
    out = out if out is not None else sys.stdout
    seen = 0
    async with client_from(directory) as client:
        poller = client.poll_thermostats(interval=interval)
        async with poller:
            async for change in poller:
                now = datetime.now(UTC)
                if as_json:
                    print_json(_record(change, now), out=out, indent=None)
                else:
                    print(line(change, now), file=out, flush=True)
                seen += 1
                if count is not None and seen >= count:
                    break
    return 0
