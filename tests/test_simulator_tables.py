"""The simulator's handler tables: every route of the library's table has exactly one handler."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from legrand_async._routes import ROUTES
from legrand_async._routing import Route
from legrand_async.simulator import Simulator


def handler_gaps(
    tables: Mapping[str, Mapping[str, Any]], routes: Iterable[Route] = ROUTES
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """The routes without exactly one handler in ``tables`` (the simulator's handler table of
    each family, keyed by route name), and the handlers without a route."""
    served = Counter((family, name) for family, table in tables.items() for name in table)
    wanted = Counter((route.family, route.name) for route in routes)
    return wanted - served, served - wanted


def test_every_route_has_exactly_one_handler() -> None:
    tables = Simulator.fleet(plants=1).app.tables
    assert handler_gaps(tables) == (Counter(), Counter())
    assert all(callable(h) for table in tables.values() for h in table.values())
