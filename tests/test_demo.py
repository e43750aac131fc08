"""The demo runs the library's main job against the simulator, within the quota."""

from __future__ import annotations

import io

import pytest

from legrand_async import cli
from legrand_async.demo import RESERVE, run_demo

from .conftest import FakeClock


@pytest.mark.asyncio
async def test_demo_polls_every_thermostat_within_the_quota() -> None:
    out = io.StringIO()
    clock = FakeClock()
    summary = await run_demo(
        plants=4,
        thermostats=2,
        seconds=30,
        per_day=120,
        per_second=5,
        faults=0.2,
        seed=3,
        out=out,
        clock=clock,
    )
    text = out.getvalue()
    assert summary["thermostats"] == 8
    assert summary["rounds"] >= 1
    assert summary["calls left today"] >= 0
    # The polls and commands stay within the budget: the reserve is left for the user.
    assert summary["calls left today"] >= int(120 * RESERVE) - summary["rounds"] - 5
    assert summary["changes seen"] >= 8  # the first round sees every thermostat
    assert summary["calls on the wire"] >= summary["rounds"] * 8
    assert "Summary" in text
    assert "retries by cause" in text
    assert "Signed in through the OAuth flow" in text
    assert "access_token='***'" in text


def test_demo_is_a_cli_command() -> None:
    args = cli.parser().parse_args(["demo", "--plants", "3", "--seconds", "5"])
    assert (args.command, args.plants, args.seconds) == ("demo", 3, 5.0)
    assert cli.COMMANDS["demo"] is cli.run_demo


def test_demo_rejects_nonsense() -> None:
    assert cli.main(["demo", "--plants", "0"]) == 1
