"""The ``legrand_async.cli`` package: importing it stays light, ``legrand_async.demo`` is the
moved module itself, and each command takes only the arguments it uses."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys

import pytest

import legrand_async.demo
from legrand_async import cli
from legrand_async.cli import demo, login, plants, whoami

#: Extras a plain ``import legrand_async.cli`` must not load: each command loads what it needs.
HEAVY = ("yaml", "platformdirs", "starlette", "uvicorn", "legrand_async.simulator")


def test_importing_the_cli_loads_no_extra() -> None:
    code = "import sys, legrand_async.cli; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.split()
    assert "legrand_async.cli.login" in loaded
    assert [name for name in loaded if name.split(".")[0] in HEAVY or name in HEAVY] == []


def test_legrand_async_demo_is_the_cli_demo_module() -> None:
    assert legrand_async.demo is demo
    assert legrand_async.demo.run_demo is demo.run_demo


@pytest.mark.parametrize("command", [login.login, whoami.whoami, plants.plants, demo.run_demo])
def test_a_command_takes_its_own_arguments_not_the_namespace(command: object) -> None:
    assert callable(command)
    hints = inspect.get_annotations(command, eval_str=True)
    assert argparse.Namespace not in hints.values()


def test_every_command_is_dispatched() -> None:
    choices = next(
        action.choices
        for action in cli.parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert sorted(choices) == sorted(cli.COMMANDS)
