"""The simulator's handler tables: every route of the library's table has exactly one handler."""

from __future__ import annotations

from collections import Counter

from legrand_async._routes import ROUTES
from legrand_async.simulator import Simulator


def test_every_route_has_exactly_one_handler() -> None:
    tables = Simulator.fleet(plants=1).app.tables
    served = Counter((family, name) for family, table in tables.items() for name in table)
    wanted = Counter((route.family, route.name) for route in ROUTES)
    assert served == wanted
    assert all(callable(h) for table in tables.values() for h in table.values())
