"""``legrand-async``: sign in once, then use the saved login (needs the ``cli`` extra).

Commands: ``login`` (authorization-code flow, or ``--import`` of the seed script's config.yaml),
``whoami``/``status`` (the token's expiry and scope, never its value) and ``plants`` (Smarther
plants with the saved login). Settings come from flags, then ``--import``, then ``LEGRAND_*``
environment variables, then the saved config, then a prompt. Config and token live in the
user's config directory (or ``--config PATH``), written atomically with mode 0600.
"""

# One module per command (login, whoami, plants, demo, simulator), each with an ``add_parser``
# and a coroutine taking only what it uses; _config.py holds what they share, _parser.py builds
# the parser. The functions below are the only place that reads the parsed arguments.

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from ..errors import LegrandError
from . import _parser, demo, login, plants, simulator, whoami
from ._config import SETTINGS as SETTINGS
from ._config import CLIError as CLIError
from ._config import ask as ask
from ._config import config_dir
from .login import catch_redirect as catch_redirect

__all__ = ["main"]
# Also used from here (``X as X`` above): parser, COMMANDS, SETTINGS, CLIError, ask (which tests
# and scripts may replace: run_login reads it at each call) and catch_redirect.


def parser() -> argparse.ArgumentParser:
    return _parser.build(__doc__)


async def run_login(args: argparse.Namespace, directory: Path) -> int:
    return await login.login(
        directory,
        {name: getattr(args, name) for name in SETTINGS},
        ask=ask,  # looked up here at each call: a test or a script may replace cli.ask
        scopes=args.scopes,
        auth_url=args.auth_url,
        base_url=args.base_url,
        listen=args.listen,
        import_path=args.import_path,
    )


async def run_whoami(args: argparse.Namespace, directory: Path) -> int:
    return await whoami.whoami(directory)


async def run_plants(args: argparse.Namespace, directory: Path) -> int:
    return await plants.plants(directory)


async def run_demo(args: argparse.Namespace, directory: Path) -> int:
    options = {name: getattr(args, name) for name in demo.ARGUMENTS}
    await demo.run_demo(**options, refuse=args.refuse)
    return 0


async def run_simulator(args: argparse.Namespace, directory: Path) -> int:
    return await simulator.simulator(args)


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], Coroutine[Any, Any, int]]] = {
    "login": run_login,
    **dict.fromkeys(whoami.NAMES, run_whoami),
    "plants": run_plants,
    "demo": run_demo,
    "simulator": run_simulator,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the exit status (argument errors raise SystemExit(2), as argparse does)."""
    try:
        args = parser().parse_args(argv)  # loads the simulator extra: Ctrl-C may come here too
        directory = config_dir(getattr(args, "config", None))
        return asyncio.run(COMMANDS[args.command](args, directory))
    except (CLIError, LegrandError, ValueError, OSError) as exc:
        print(f"legrand-async: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
