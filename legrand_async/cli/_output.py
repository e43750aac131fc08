"""How commands print: a rich table on a terminal, tab-separated lines otherwise, or JSON.

rich (the ``cli`` extra) is imported only when a table goes to a terminal, so a script reading
the output, or ``--json``, never needs it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

__all__ = ["add_json_flag", "for_how_long", "is_terminal", "print_json", "print_table", "show"]


def add_json_flag(parser: Any, help: str = "print JSON instead of text, for scripts") -> None:
    """``--json`` on a command that prints data."""
    parser.add_argument("--json", action="store_true", help=help)


def is_terminal(out: TextIO) -> bool:
    """Whether ``out`` is a terminal (tests replace this to see the tables)."""
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def for_how_long(seconds: float) -> str:
    """A span in the unit that reads best: ``45 s``, ``12 min``, ``5 h``, ``3 days``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600:.0f} h"
    return f"{seconds // 86400:.0f} days"


def show(value: object) -> str:
    """A cell: ``-`` for nothing, yes/no for a bool, an enum's value, the rest as text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(getattr(value, "value", value))


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    out: TextIO | None = None,
) -> None:
    """``rows`` under ``columns``: a rich table on a terminal, else a header line and one
    tab-separated line per row."""
    out = out if out is not None else sys.stdout
    cells = [[show(value) for value in row] for row in rows]
    if is_terminal(out):
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # pragma: no cover - the cli extra installs rich
            pass
        else:
            table = Table(title=title, title_justify="left")
            for column in columns:
                table.add_column(column)
            for row in cells:
                table.add_row(*row)
            Console(file=out).print(table)
            return
    print("\t".join(columns), file=out)
    for row in cells:
        print("\t".join(row), file=out)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return getattr(value, "value", str(value))


def print_json(data: object, *, out: TextIO | None = None, indent: int | None = 2) -> None:
    """``data`` as JSON (datetimes as ISO 8601, enums by value)."""
    out = out if out is not None else sys.stdout
    print(json.dumps(data, indent=indent, default=_default), file=out, flush=True)
