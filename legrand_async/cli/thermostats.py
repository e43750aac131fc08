"""``legrand-async thermostats``: every Smarther thermostat of the saved login and its status."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._client import LegrandClient
from ..models.smarther import ChronothermostatStatus
from ._config import client_from
from ._output import add_json_flag, print_json, print_table

__all__ = ["COLUMNS", "add_parser", "row", "thermostats"]

#: The table's columns: the plant's and the thermostat's names, then the status. The JSON
#: objects have these keys, and ``plant_id`` and ``thermostat_id`` too.
COLUMNS = ("plant", "thermostat", "mode", "setpoint", "temperature", "humidity", "online")
_THERMOSTAT = "chronothermostat"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``thermostats`` on the CLI's subcommands."""
    command = commands.add_parser(
        "thermostats",
        parents=[common],
        help="show every Smarther thermostat: mode, setpoint, temperature, humidity",
        description="Show every Smarther thermostat of the saved login with its mode, setpoint, "
        "measured temperature and humidity, and whether it is online. It costs one call for "
        "the plant list, one per plant and one per thermostat.",
    )
    add_json_flag(command, "print JSON instead of a table, for scripts")


def row(
    plant_id: str, plant: str, thermostat_id: str, thermostat: str, status: ChronothermostatStatus
) -> dict[str, Any]:
    """One thermostat's JSON object; its table row is the values of ``COLUMNS``."""
    return {
        "plant_id": plant_id,
        "plant": plant,
        "thermostat_id": thermostat_id,
        "thermostat": thermostat,
        "mode": status.mode.value,
        "setpoint": status.setpoint,
        "temperature": status.temperature,
        "humidity": status.humidity,
        "online": status.online,
    }


_UNITS = {"setpoint": " °C", "temperature": " °C", "humidity": " %"}


def _cell(column: str, value: object) -> object:
    """A table cell: a measure with its unit."""
    unit = _UNITS.get(column)
    return f"{value}{unit}" if unit and value is not None else value


async def _read(client: LegrandClient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for plant in await client.smarther.list_plants():
        topology = await client.smarther.get_topology(plant.id)
        for module in topology.modules:
            if module.device.lower() != _THERMOSTAT:
                continue
            status = await client.smarther.get_status(plant.id, module.id)
            rows.append(row(plant.id, plant.name, module.id, module.name, status))
    return rows


async def thermostats(directory: Path, *, as_json: bool = False) -> int:
    """Show the thermostats of the login saved in ``directory``; the exit status, 0."""
    async with client_from(directory) as client:
        rows = await _read(client)
    if as_json:
        print_json(rows)
    elif not rows:
        print("No Smarther thermostats on this account.")
    else:
        cells = [[_cell(column, found[column]) for column in COLUMNS] for found in rows]
        print_table("Smarther thermostats", COLUMNS, cells)
    return 0
