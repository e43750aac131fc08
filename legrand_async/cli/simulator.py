"""``legrand-async simulator``: serve the simulated cloud (the ``simulator`` extra).

The command itself lives with the simulator (``legrand_async.simulator._cli``, which takes the
parsed arguments whole); this module registers it and reports a missing extra in one line.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._config import CLIError

__all__ = ["add_parser", "simulator"]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``simulator`` (a placeholder that says what to install without the extra)."""
    try:  # the simulator extra (starlette, uvicorn)
        from ..simulator._cli import add_parser as add_simulator
    except ImportError:
        commands.add_parser("simulator", help="serve a simulated cloud (needs the simulator extra)")
    else:
        add_simulator(commands)


async def simulator(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; the exit status."""
    try:
        from ..simulator._cli import run
    except ImportError:
        raise CLIError("the simulator needs: pip install 'legrand-async[simulator]'") from None
    return await run(args)
