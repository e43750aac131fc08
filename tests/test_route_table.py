"""Walk the route table: every route has a coroutine, a test that calls it, and a docs entry.

``RECIPES`` is the registry: one call per route, written out by hand (method, exact raw path,
exact JSON body, a realistic answer), so a route added to ``legrand_async/_routes.py`` fails
here until it is called, checked on the wire and documented on its family's page.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import respx

from legrand_async import LegrandClient, ModuleKind, SetStatus
from legrand_async._routes import FAMILIES, ROUTES
from legrand_async._routing import Route

from .conftest import CHRONO, KEY, MODULE, PLANT, SUBSCRIPTION, TOKEN, load

DOCS = Path(__file__).parent.parent / "docs"
PAGES = {
    "smarther": DOCS / "smarther.md",
    "home_control": DOCS / "home_control.md",
    "multisocket": DOCS / "multisocket.md",
    "door_entry": DOCS / "door_entry.md",
}

SM = "/smarther/v2.0"
CHRONO_PATH = CHRONO.removeprefix("https://api.developer.legrand.com")
HC = "/hc/api/v1.0"
HC_PLANT = "123456789009876543210"
HC_PLUG = "0000000587654321fedcba"
HC_SHUTTER = "00001234567890000xxxxxxx"
HC_AMBIENT = "000000052345678fedcba"
HC_MODULES = f"{HC}/%s/addressLocation/plants/{HC_PLANT}/modules/parameter/id/value/%s"
HC_SCENES = f"{HC}/scene/comfort/addressLocation/plants/{HC_PLANT}"
SOCKETS = f"/multioutlet/plug/energy/addressLocation/plants/{PLANT}/parameter"
CALL_IN = (
    f"/vdeproducts/v1.0/audiovideounit/videodoorentry/addressLocation/plants/{PLANT}"
    f"/modules/parameter/id/value/{MODULE}/callIn"
)


class Recipe(NamedTuple):
    """How to call one route and what must go over the wire."""

    call: Callable[[Any], Any]  # the family's API object -> the coroutine's awaitable
    method: str
    raw_path: str
    body: Any = None  # the exact JSON sent, None for no body
    answer: httpx.Response = httpx.Response(200)
    check: Callable[[Any], bool] = lambda result: result is None


RECIPES: dict[tuple[str, str], Recipe] = {
    ("smarther", "list_plants"): Recipe(
        lambda api: api.list_plants(),
        "GET",
        f"{SM}/plants",
        answer=httpx.Response(200, json={"plants": [{"id": PLANT, "name": "Home"}]}),
        check=lambda plants: [p.id for p in plants] == [PLANT],
    ),
    ("smarther", "get_topology"): Recipe(
        lambda api: api.get_topology(PLANT),
        "GET",
        f"{SM}/plants/{PLANT}/topology",
        answer=httpx.Response(200, json={"plant": {"id": PLANT, "name": "Home", "modules": []}}),
        check=lambda topology: topology.id == PLANT,
    ),
    ("smarther", "get_status"): Recipe(
        lambda api: api.get_status(PLANT, MODULE),
        "GET",
        CHRONO_PATH,
        answer=httpx.Response(200, json=load("smarther_status.json")),
        check=lambda status: status.module_id == MODULE,
    ),
    ("smarther", "set_status"): Recipe(
        lambda api: api.set_status(PLANT, MODULE, SetStatus.off()),
        "POST",
        CHRONO_PATH,
        body={"function": "heating", "mode": "off"},
    ),
    ("smarther", "get_measures"): Recipe(
        lambda api: api.get_measures(PLANT, MODULE),
        "GET",
        f"{CHRONO_PATH}/measures",
        answer=httpx.Response(
            200,
            json={
                "thermometer": {
                    "measures": [
                        {"timeStamp": "2026-11-21T21:15:00+01:00", "value": "20.1", "unit": "C"}
                    ]
                },
                "hygrometer": {"measures": []},
            },
        ),
        check=lambda measures: measures.temperature == 20.1,
    ),
    ("smarther", "get_programs"): Recipe(
        lambda api: api.get_programs(PLANT, MODULE),
        "GET",
        f"{CHRONO_PATH}/programlist",
        answer=httpx.Response(
            200, json={"chronothermostats": [{"programs": [{"number": 1, "name": "Winter"}]}]}
        ),
        check=lambda programs: [p.number for p in programs] == [1],
    ),
    ("smarther", "list_subscriptions"): Recipe(
        lambda api: api.list_subscriptions(),
        "GET",
        f"{SM}/subscription",
        answer=httpx.Response(204),
        check=lambda subscriptions: subscriptions == [],
    ),
    ("smarther", "subscribe"): Recipe(
        lambda api: api.subscribe(PLANT, "https://example.org/hook"),
        "POST",
        f"{SM}/plants/{PLANT}/subscription",
        body={"EndPointUrl": "https://example.org/hook"},
        answer=httpx.Response(201, json={"subscriptionId": SUBSCRIPTION}),
        check=lambda subscription_id: subscription_id == SUBSCRIPTION,
    ),
    ("smarther", "unsubscribe"): Recipe(
        lambda api: api.unsubscribe(PLANT, SUBSCRIPTION),
        "DELETE",
        f"{SM}/plants/{PLANT}/subscription/{SUBSCRIPTION}",
    ),
    ("home_control", "list_plants"): Recipe(
        lambda api: api.list_plants(),
        "GET",
        f"{HC}/plants",
        answer=httpx.Response(200, json={"plants": [{"id": HC_PLANT, "country": "FR"}]}),
        check=lambda plants: [(p.id, p.country) for p in plants] == [(HC_PLANT, "FR")],
    ),
    ("home_control", "get_topology"): Recipe(
        lambda api: api.get_topology(HC_PLANT),
        "GET",
        f"{HC}/plants/{HC_PLANT}/topology",
        answer=httpx.Response(200, json=load("hc_topology.json")),
        check=lambda topology: len(topology.ambients) == 4 and len(topology.modules) == 3,
    ),
    ("home_control", "get_plant_status"): Recipe(
        lambda api: api.get_plant_status(HC_PLANT),
        "GET",
        f"{HC}/plants/{HC_PLANT}",
        answer=httpx.Response(200, json={"modules": load("hc_plug_status.json")}),
        check=lambda statuses: (
            [(s.module_id, s.kind) for s in statuses] == [(HC_PLUG, ModuleKind.PLUG)]
        ),
    ),
    ("home_control", "get_module_status"): Recipe(
        lambda api: api.get_module_status(HC_PLANT, ModuleKind.PLUG, HC_PLUG),
        "GET",
        HC_MODULES % ("plug/energy", HC_PLUG),
        answer=httpx.Response(200, json=load("hc_plug_status.json")),
        check=lambda status: (status.is_on, status.power_w, status.fw) == (True, 1999, 42),
    ),
    ("home_control", "set_module_status"): Recipe(
        lambda api: api.set_module_status(HC_PLANT, ModuleKind.LIGHT, HC_PLUG, on=True),
        "POST",
        HC_MODULES % ("light/lighting", HC_PLUG),
        body={"status": "on"},
    ),
    ("home_control", "set_ambient_plugs"): Recipe(
        lambda api: api.set_ambient_plugs(HC_PLANT, HC_AMBIENT, on=False),
        "POST",
        f"{HC}/plug/energy/addressLocation/plants/{HC_PLANT}/ambients/parameter/id/value/{HC_AMBIENT}",
        body={"status": "off"},
    ),
    ("home_control", "set_automation_level"): Recipe(
        lambda api: api.set_automation_level(HC_PLANT, HC_SHUTTER, 40),
        "POST",
        HC_MODULES % ("automation/automation", HC_SHUTTER),
        body={"level": 40},
    ),
    ("home_control", "stop_automation"): Recipe(
        lambda api: api.stop_automation(HC_PLANT, HC_SHUTTER),
        "POST",
        HC_MODULES % ("automation/automation", HC_SHUTTER),
        body={"level": -1},
    ),
    ("home_control", "list_scenes"): Recipe(
        lambda api: api.list_scenes(HC_PLANT),
        "GET",
        HC_SCENES,
        answer=httpx.Response(
            200,
            json={
                "scenes": [
                    {"name": "Good night", "sender": {"plant": {"module": {"id": "scene-1"}}}}
                ]
            },
        ),
        check=lambda scenes: [(s.id, s.name) for s in scenes] == [("scene-1", "Good night")],
    ),
    ("home_control", "run_scene"): Recipe(
        lambda api: api.run_scene(HC_PLANT, "scene-1"),
        "POST",
        f"{HC_SCENES}/modules/parameter/id/value/scene-1",
        body={"enable": True},
    ),
    ("multisocket", "get_plugs"): Recipe(
        lambda api: api.get_plugs(PLANT, by="name", value="Living Room/Lamp"),
        "GET",
        f"{SOCKETS}/name/value/Living%20Room%2FLamp",
        answer=httpx.Response(
            200, json={"plugs": [{"id": "s1", "name": "Living Room/Lamp", "status": [True]}]}
        ),
        check=lambda plugs: [(p.id, p.status) for p in plugs] == [("s1", [True])],
    ),
    ("multisocket", "set_plugs"): Recipe(
        lambda api: api.set_plugs(PLANT, by="name", value="Lamp", status=True),
        "POST",
        f"{SOCKETS}/name/value/Lamp",
        body={"status": [True]},
    ),
    ("door_entry", "call_home"): Recipe(
        lambda api: api.call_home(PLANT, MODULE),
        "GET",
        CALL_IN,
        answer=httpx.Response(200, json=load("vde_call_home_doc.json")),
        check=lambda tickets: [(t.ticket, t.expires_at) for t in tickets] == [("string", None)],
    ),
}

ALL_ROUTES = {(r.family, r.name) for r in ROUTES}


def _id(route: Route) -> str:
    return f"{route.family}.{route.name}"


def registry_gaps(
    routes: Iterable[Route], recipes: Mapping[tuple[str, str], Recipe] = RECIPES
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The routes without a recipe, and the recipes without a route."""
    names = {(r.family, r.name) for r in routes}
    return names - set(recipes), set(recipes) - names


def test_the_registry_covers_every_route() -> None:
    assert registry_gaps(ROUTES) == (set(), set())
    assert len(ROUTES) == len(ALL_ROUTES)


def test_every_family_has_a_page_and_a_client_attribute() -> None:
    assert set(PAGES) == set(FAMILIES)
    client = LegrandClient(subscription_key="k", access_token="t")
    for name, family in FAMILIES.items():
        generated = [c.__name__ for c in type(getattr(client, family.attribute)).__mro__]
        assert family.class_name in generated, name  # the generated class, or a subclass of it
        assert PAGES[name].is_file(), f"{PAGES[name]} is missing"


def coroutine_problems(route: Route, api: object) -> list[str]:
    """What is wrong with ``route``'s coroutine on its family's API object (``client.<family>``)."""
    method = getattr(api, route.name, None)
    if method is None:
        return [f"{type(api).__name__} has no {route.name}: run `nox -s generate`"]
    doc = method.__doc__ or ""
    problems = [] if inspect.iscoroutinefunction(method) else [f"{route.name} is not a coroutine"]
    if route.summary.split(" (")[0] not in doc:
        problems.append(f"{route.name}'s docstring lacks the route's summary")
    if f"``{route.method} {route.path}``" not in doc:
        problems.append(f"{route.name}'s docstring lacks ``{route.method} {route.path}``")
    return problems


@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_every_route_has_a_coroutine(route: Route) -> None:
    client = LegrandClient(subscription_key="k", access_token="t")
    assert coroutine_problems(route, getattr(client, FAMILIES[route.family].attribute)) == []


@pytest.mark.parametrize("route", ROUTES, ids=_id)
@pytest.mark.asyncio
async def test_every_route_is_called(
    client: LegrandClient, mock: respx.MockRouter, route: Route
) -> None:
    recipe = RECIPES[route.family, route.name]
    assert recipe.method == route.method
    wire = mock.route().mock(return_value=recipe.answer)
    api = getattr(client, FAMILIES[route.family].attribute)
    result = await recipe.call(api)
    assert recipe.check(result), result
    assert wire.call_count == 1
    request = wire.calls.last.request
    assert request.method == route.method
    assert request.url.raw_path == recipe.raw_path.encode()
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    if recipe.body is None:
        assert route.body is None
        assert request.content == b""
    else:
        assert route.body is not None
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == recipe.body


def _section(page: str, name: str) -> str | None:
    """The text under ``### `name``` up to the next heading of level 2 or 3."""
    match = re.search(rf"^### `{re.escape(name)}`\s*$(.*?)(?=^##?#? |\Z)", page, re.M | re.S)
    return match.group(1) if match else None


def documentation_problems(route: Route, page: str | None = None) -> list[str]:
    """What ``route``'s section of its family's page (``page``: that page's text) lacks."""
    if page is None:
        page = PAGES[route.family].read_text(encoding="utf-8")
    section = _section(page, route.name)
    if section is None:
        return [f"no '### `{route.name}`' in {PAGES[route.family].name}"]
    problems = []
    if f"- HTTP: `{route.method} {route.path}" not in section:
        problems.append(f"no '- HTTP: `{route.method} {route.path}`' line")
    scope = re.search(r"^- Scope[s]?: (.*)$", section, re.M)
    if scope is None:
        problems.append("no '- Scope:' line")
    elif route.scopes:
        problems += [f"scope `{n}` not named" for n in route.scopes if f"`{n}`" not in scope[1]]
    elif "unknown" not in scope.group(1):
        problems.append("a route without scopes says its scope is unknown")
    if "```python" not in section:
        problems.append("no runnable example")
    if f".{route.name}(" not in section:
        problems.append(f"the example does not call .{route.name}(")
    return problems


@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_every_route_is_documented(route: Route) -> None:
    assert documentation_problems(route) == []
