"""``legrand-async``: sign in once, then use the saved login (needs the ``cli`` extra).

Commands: ``login`` (authorization-code flow, or ``--import`` of the seed script's config.yaml),
``whoami`` (the sign-in: user, scopes, expiry), ``status`` (today's quota and the token's
health), ``plants`` and ``thermostats`` (tables, or ``--json``), ``watch`` (the changes, until
Ctrl-C), ``demo`` and ``simulator`` (offline). Settings come from flags, then ``--import``, then
``LEGRAND_*`` environment variables, then the saved config, then a prompt. Config and token live
in the user's config directory (or ``--config PATH``), written atomically with mode 0600.
"""

# One module per command (login, whoami, status, plants, thermostats, watch, demo, simulator),
# each with an ``add_parser`` and a coroutine taking only what it uses; _config.py holds what
# they share, _output.py how they print, _parser.py builds the parser. The functions below are
# the only place that reads the parsed arguments.

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from ..errors import LegrandError
from . import _parser, demo, login, plants, simulator, status, thermostats, watch, whoami
from ._config import SETTINGS as SETTINGS
from ._config import CLIError as CLIError
from ._config import ask as ask
from ._config import config_dir
from ._output import print_json
from .login import catch_redirect as catch_redirect

__all__ = ["main"]
# Also used from here (``X as X`` above): parser, COMMANDS, SETTINGS, CLIError, ask (which tests
# and scripts may replace: run_login reads it at each call) and catch_redirect.


#: What ``legrand-async --help`` says first, in plain words.
DESCRIPTION = (
    "A command line for the Legrand / BTicino developer cloud. Sign in once with 'login'; the "
    "other commands use the saved login. 'demo' and 'simulator' run offline."
)


def parser() -> argparse.ArgumentParser:
    return _parser.build(DESCRIPTION)


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
    return await whoami.whoami(directory, as_json=args.json)


async def run_status(args: argparse.Namespace, directory: Path) -> int:
    return await status.status(directory, as_json=args.json)


async def run_plants(args: argparse.Namespace, directory: Path) -> int:
    return await plants.plants(directory, as_json=args.json)


async def run_thermostats(args: argparse.Namespace, directory: Path) -> int:
    return await thermostats.thermostats(directory, as_json=args.json)


async def run_watch(args: argparse.Namespace, directory: Path) -> int:
    return await watch.watch(directory, as_json=args.json, interval=args.interval, count=args.count)


async def run_demo(args: argparse.Namespace, directory: Path) -> int:
    options = {name: getattr(args, name) for name in demo.ARGUMENTS}
    if not args.json:
        await demo.run_demo(**options, refuse=args.refuse)
        return 0
    summary = await demo.run_demo(**options, refuse=args.refuse, out=io.StringIO())
    print_json(summary)
    return 0


async def run_simulator(args: argparse.Namespace, directory: Path) -> int:
    return await simulator.simulator(args)


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], Coroutine[Any, Any, int]]] = {
    "login": run_login,
    "whoami": run_whoami,
    "status": run_status,
    "plants": run_plants,
    "thermostats": run_thermostats,
    "watch": run_watch,
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
