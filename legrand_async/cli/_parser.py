"""The ``legrand-async`` argument parser, assembled from each command module's ``add_parser``."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .. import __version__
from . import demo, login, plants, simulator, status, thermostats, watch, whoami

__all__ = ["build"]

#: The command modules, in the order ``--help`` lists them.
MODULES = (login, whoami, status, plants, thermostats, watch, demo, simulator)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line: ``legrand-async demo: error: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build(description: str | None) -> argparse.ArgumentParser:
    """The root parser; ``args.command`` names the command chosen."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="directory for config.json and token.json, or a .json file in it "
        "(default: the user config directory)",
    )
    root = _Parser(prog="legrand-async", description=description, parents=[common])
    root.add_argument("--version", action="version", version=f"legrand-async {__version__}")
    commands = root.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND"
    )
    for module in MODULES:
        module.add_parser(commands, common)
    return root
