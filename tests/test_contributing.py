"""CONTRIBUTING.md's "Add an endpoint" recipe, done: a harmless route is added to a copy of the
route table, and every check the suite has finds each part the recipe says to add, until it is
added; "Add an API family" likewise, with a made-up family. The checks are the suite's own
functions (test_route_table, test_generated, test_simulator, test_simulator_tables), not copies
of them.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import JSONResponse, Response

from legrand_async import LegrandClient, _routes
from legrand_async._extract import Extract
from legrand_async._routing import Family, PathParam, Route
from legrand_async.simulator import Simulator

from . import test_route_table, test_simulator
from .test_generated import ROOT, generator, is_fresh
from .test_route_table import (
    PAGES,
    RECIPES,
    Recipe,
    coroutine_problems,
    documentation_problems,
    registry_gaps,
)
from .test_simulator_tables import handler_gaps

#: The harmless route: step 1 of the recipe (one entry in ``ROUTES``).
FIRMWARE = Route(
    family="smarther",
    name="get_firmware",
    method="GET",
    path="/smarther/v2.0/plants/{plant_id}/firmware",
    summary="The firmware version of a plant's gateway (a route made up for this test).",
    idempotent=True,
    params=(PathParam("plant_id"),),
    extract=Extract(str, at=("version",)),
    scopes=("comfort.read",),
)
#: Step 4 of the recipe: the route's section on its family's page.
SECTION = """
### `get_firmware`

The firmware version of a plant's gateway.

- HTTP: `GET /smarther/v2.0/plants/{plant_id}/firmware`
- Scope: `comfort.read`

```python
version = await client.smarther.get_firmware(plant_id)
```
"""


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> tuple[Route, ...]:
    """The route table with FIRMWARE added, where the library reads it."""
    routes = (*_routes.ROUTES, FIRMWARE)
    monkeypatch.setattr(_routes, "ROUTES", routes)
    monkeypatch.setitem(_routes._BY_NAME, (FIRMWARE.family, FIRMWARE.name), FIRMWARE)
    return routes


def test_the_route_table_checks_find_each_missing_part(table: tuple[Route, ...]) -> None:
    # Step 5 (a call in test_route_table.RECIPES) is missing ...
    assert registry_gaps(table) == ({("smarther", "get_firmware")}, set())
    # ... and found, once there.
    recipe = Recipe(lambda api: api.get_firmware("p"), "GET", "/smarther/v2.0/plants/p/firmware")
    assert registry_gaps(table, {**RECIPES, ("smarther", "get_firmware"): recipe}) == (set(), set())
    # Step 2 (the generated coroutine) is missing on the client.
    client = LegrandClient(subscription_key="k", access_token="t")
    (problem,) = coroutine_problems(FIRMWARE, client.smarther)
    assert problem.endswith("has no get_firmware: run `nox -s generate`")
    # Step 4 (the docs section) is missing, and enough once written as the recipe says.
    page = PAGES["smarther"].read_text(encoding="utf-8")
    assert documentation_problems(FIRMWARE, page) == ["no '### `get_firmware`' in smarther.md"]
    assert documentation_problems(FIRMWARE, page + SECTION) == []
    without_scope = page + SECTION.replace("- Scope: `comfort.read`\n", "")
    assert documentation_problems(FIRMWARE, without_scope) == ["no '- Scope:' line"]


def test_the_generated_code_check_finds_it_stale_until_regenerated(
    table: tuple[Route, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gen = generator()
    monkeypatch.setattr(gen, "ROUTES", table)
    assert not is_fresh("smarther", gen)
    assert all(is_fresh(family, gen) for family in ("home_control", "multisocket", "door_entry"))
    # Step 2 done: `nox -s generate` (here into tmp_path) writes the coroutine the check wants.
    gen.main(tmp_path)
    regenerated = _load_endpoints(tmp_path / "smarther.py", monkeypatch)
    api = regenerated.SmartherAPI(_no_call)
    assert coroutine_problems(FIRMWARE, api) == []
    assert (ROOT / "legrand_async" / "_endpoints" / "smarther.py").read_text() != (
        tmp_path / "smarther.py"
    ).read_text()


def test_the_simulator_checks_find_the_missing_handler(table: tuple[Route, ...]) -> None:
    # Step 6: the simulator's recipe registry (tests/test_simulator.py) ...
    assert {(r.family, r.name) for r in table} - set(test_simulator.RECIPES) == {
        ("smarther", "get_firmware")
    }
    # ... and its handler tables (legrand_async/simulator/<family>.py, ``handlers()``): the
    # coverage check of tests/test_simulator_tables.py finds the handler missing ...
    tables = Simulator.fleet(plants=1).app.tables
    missing = Counter({("smarther", "get_firmware"): 1})
    assert handler_gaps(tables, table) == (missing, Counter())
    # ... and nothing once the family's table has it under the route's name.
    smarther = {**tables["smarther"], "get_firmware": _firmware}
    assert handler_gaps({**tables, "smarther": smarther}, table) == (Counter(), Counter())


#: "Add an API family", step 1: the family's entry (everything else is named after its key).
INTERCOM = Family("intercom", "An intercom (a family made up for this test).")
RING = Route(
    family="intercom",
    name="ring",
    method="POST",
    path="/intercom/v1.0/plants/{plant_id}/ring",
    summary="Ring the intercom of a plant (a route made up for this test).",
    idempotent=False,
    params=(PathParam("plant_id"),),
)


def test_a_new_family_is_found_missing_in_each_place(monkeypatch: pytest.MonkeyPatch) -> None:
    families = {**_routes.FAMILIES, "intercom": INTERCOM}
    routes = (*_routes.ROUTES, RING)
    gen = generator()
    monkeypatch.setattr(gen, "FAMILIES", families)
    monkeypatch.setattr(gen, "ROUTES", routes)
    assert (INTERCOM.attribute, INTERCOM.class_name, INTERCOM.models) == (
        "intercom",
        "IntercomAPI",
        "legrand_async.models.intercom",
    )
    # Step 2: without its models module the family cannot be generated ...
    with pytest.raises(ModuleNotFoundError, match=r"legrand_async\.models\.intercom"):
        gen.render("intercom")
    # ... and with it, step 3 renders the class and the client's attribute (in the Families
    # mixin of _endpoints/__init__.py, stale until regenerated).
    monkeypatch.setitem(sys.modules, INTERCOM.models, types.ModuleType(INTERCOM.models))
    assert "class IntercomAPI(FamilyBase):" in gen.render("intercom")
    wiring = gen.render_init()
    assert "    intercom: IntercomAPI\n" in wiring
    assert "        self.intercom = IntercomAPI(call)\n" in wiring
    assert wiring != (ROOT / "legrand_async" / "_endpoints" / "__init__.py").read_text()
    # Step 6: its docs page is not in PAGES (test_every_family_has_a_page_and_a_client_attribute).
    assert set(families) - set(PAGES) == {"intercom"}
    # Step 7: the simulator has no handler table for it (tests/test_simulator_tables.py).
    tables = Simulator.fleet(plants=1).app.tables
    assert handler_gaps(tables, routes) == (Counter({("intercom", "ring"): 1}), Counter())
    assert handler_gaps({**tables, "intercom": {"ring": _firmware}}, routes) == (
        Counter(),
        Counter(),
    )


def test_without_the_route_every_check_passes() -> None:
    """The control: the same checks on the real table find nothing."""
    assert registry_gaps(_routes.ROUTES) == (set(), set())
    assert set(test_simulator.RECIPES) == {(r.family, r.name) for r in _routes.ROUTES}
    assert handler_gaps(Simulator.fleet(plants=1).app.tables) == (Counter(), Counter())
    client = LegrandClient(subscription_key="k", access_token="t")
    for route in _routes.ROUTES:
        api = getattr(client, test_route_table.FAMILIES[route.family].attribute)
        assert coroutine_problems(route, api) == [], route.name
        assert documentation_problems(route) == [], route.name


async def _firmware(request: Any) -> Response:  # pragma: no cover - never served
    return JSONResponse({"version": "1.0"})


async def _no_call(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never awaited
    raise AssertionError("not called")


def _load_endpoints(path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A generated endpoint module from ``path``, imported inside ``legrand_async._endpoints``
    (its relative imports resolve there) under a name of its own."""
    name = "legrand_async._endpoints._contributing_probe"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module
