"""Every ```python block of docs/*.md runs as is against a mocked cloud.

Each block is a complete program (it calls ``asyncio.run`` itself), so the tests are plain sync
tests: the block is executed in a fresh namespace as ``__main__`` with the environment variables
the docs tell users to set, while respx answers every route of every family (Smarther, Home +
Control, Multisocket, door entry) with a realistic payload, and the sign-in service's token
endpoint too (the authentication examples start from a saved login about to expire, so they
refresh it; the one that signs in gets the pasted redirect from a stand-in for ``input``).
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from legrand_async import FileTokenStore, Function, LegrandClient, OAuthApp, SetStatus, Token
from legrand_async._auth import DEFAULT_AUTH_URL, DEFAULT_SCOPES
from legrand_async._converters import unstructure
from legrand_async._routes import FAMILIES, ROUTES

from .conftest import BASE, KEY, MODULE, PLANT, SUBSCRIPTION, TOKEN, load

DOCS = Path(__file__).parent.parent / "docs"
WEBHOOK = "https://example.com/legrand/webhook"
SM = "/smarther/v2.0"
CHRONO = (
    f"{SM}/chronothermostat/thermoregulation/addressLocation/plants/{PLANT}"
    f"/modules/parameter/id/value/{MODULE}"
)

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-") or "top"


class Block(NamedTuple):
    """One ```python block: where it is and its source."""

    path: Path
    line: int  # of the block's first line of code
    source: str
    id: str


def _blocks() -> Iterator[Block]:
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for index, match in enumerate(_FENCE.finditer(text)):
            headings = _HEADING.findall(text, 0, match.start())
            section = _slug(headings[-1]) if headings else "top"
            line = text.count("\n", 0, match.start(1)) + 1
            yield Block(path, line, match.group(1), f"{path.name}-{index}-{section}")


BLOCKS = list(_blocks())

TOPOLOGY = {
    "plant": {
        "id": PLANT,
        "name": "Home",
        "modules": [
            {
                "device": "chronothermostat",
                "id": MODULE,
                "name": "Living room",
                "capabilities": [
                    {
                        "capability": "function",
                        "canDo": {
                            "command": {"do": True},
                            "request": {"do": True},
                            "notification": {"do": True},
                        },
                    },
                    {
                        "capability": "setPoint",
                        "canDo": {"command": {"do": True}, "request": {"do": True}},
                    },
                ],
            }
        ],
    }
}
_SENDER = {
    "addressType": "addressLocation",
    "system": "thermoregulation",
    "plant": {"id": PLANT, "module": {"id": MODULE}},
}
MEASURES = {
    "thermometer": {
        "measures": [
            {"timeStamp": "2026-11-21T21:00:00+01:00", "value": "19.8", "unit": "C"},
            {"timeStamp": "2026-11-21T21:15:00+01:00", "value": "20.1", "unit": "C"},
        ]
    },
    "hygrometer": {
        "measures": [{"timeStamp": "2026-11-21T21:15:00+01:00", "value": "55.0", "unit": "%"}]
    },
    "sender": _SENDER,
}
PROGRAMS = {
    "chronothermostats": [
        {"programs": [{"number": 0, "name": "Default"}, {"number": 1, "name": "Winter"}]}
    ]
}
SUBSCRIPTIONS = [{"plantId": PLANT, "subscriptionId": SUBSCRIPTION, "EndPointUrl": WEBHOOK}]

# Home + Control: the ids of tests/fixtures/hc_topology.json (opaque strings, not UUIDs).
HC = "/hc/api/v1.0"
HC_PLANT = "123456789009876543210"
HC_MODULE = "0000000587654321fedcba"  # the dining room's wall outlet, a plug
HC_ID = r"[^/]+"
HC_MODULES = rf"^{HC}/%s/addressLocation/plants/{HC_PLANT}/modules/parameter/id/value/{HC_ID}$"
HC_SCENES = f"{HC}/scene/comfort/addressLocation/plants/{HC_PLANT}"
HC_PLANTS = {
    "plants": [
        {"id": HC_PLANT, "name": "Maison", "country": "FR"},
        {"id": "223456789009876543210", "name": "Chalet"},
    ]
}


def _hc_sender(module_id: str) -> dict[str, object]:
    return {"plant": {"module": {"id": module_id}}}


HC_STATUS = {
    "modules": {
        "lights": [
            {
                "reachable": True,
                "status": "on",
                "level": 80,
                "fw": 46,
                "consumptions": [
                    {"unit": "watt", "value": 12, "timestamp": "2026-11-21T11:00:00+00:00"}
                ],
                "sender": _hc_sender("0000000787654321fedcba"),
            },
            {"reachable": False, "status": "off", "sender": _hc_sender("0000000687654321fedcba")},
        ],
        "plugs": load("hc_plug_status.json")["plugs"],
        "automations": [
            {
                "reachable": True,
                "level": 35,
                "step": 100,
                "sender": _hc_sender("00001234567890000xxxxxxx"),
            }
        ],
        "remotes": [
            {
                "reachable": True,
                "battery": "full",
                "fw": 21,
                "sender": _hc_sender("000000012345678abcdef"),
            }
        ],
        "heaters": [],
        "energymeters": [],
    }
}
HC_SCENE_LIST = {
    "scenes": [
        {"name": "Good night", "sender": {"plant": {"module": {"id": "scene-1"}}}},
        {"name": "Away", "sender": {"plant": {"module": {"id": "scene-2"}}}},
    ]
}

# Multisocket and door entry: UUIDs.
# respx matches the decoded path: a value "Living Room/Lamp" holds a "/" there.
SOCKETS = (
    rf"^/multioutlet/plug/energy/addressLocation/plants/{PLANT}/parameter/(id|name|type)/value/.+$"
)
SOCKET_LIST = {
    "plugs": [
        {"id": "4f1c2a9e-7d3b-4e21-9a6c-0b8d5e3f1a27", "name": "Lamp", "status": [True, False]},
        {"id": "5a2d3b0f-8e4c-4f32-8b7d-1c9e6f4a2b38", "name": "Lamp", "status": [False]},
    ]
}
DEVICE = "3c9d7e21-5b4a-4c8e-9f10-2a7b6c5d4e3f"
CALL_IN = (
    f"/vdeproducts/v1.0/audiovideounit/videodoorentry/addressLocation/plants/{PLANT}"
    f"/modules/parameter/id/value/{DEVICE}/callIn"
)


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tickets(_: httpx.Request) -> httpx.Response:
    """A fresh JWT ticket valid ten minutes, and the portal's example ticket (not a JWT)."""
    ticket = ".".join([_b64({"alg": "RS256"}), _b64({"exp": int(time.time()) + 600}), "sig"])
    sender = {"addressType": "addressLocation", "system": "videodoorentry", "plant": {"id": PLANT}}
    return httpx.Response(
        200,
        json={
            "audiovideounits": [
                {"ticket": ticket, "sender": sender},
                {"ticket": "string", "sender": sender},
            ]
        },
    )


Key = tuple[str, str]
REFRESH = "refresh-token-4b8e0c"
REDIRECT_URI = "http://localhost:8765/callback"


def _token_endpoint(request: httpx.Request) -> httpx.Response:
    """The sign-in service: any code or refresh token gets TOKEN, valid one hour."""
    form = dict(parse_qsl(request.content.decode()))
    assert form["grant_type"] in ("authorization_code", "refresh_token")
    assert form["client_secret"] == "client-secret-7f1d"
    return httpx.Response(
        200,
        json={
            "access_token": TOKEN,
            "refresh_token": REFRESH + "-rotated",
            "expires_in": 3600,
            "scope": " ".join(DEFAULT_SCOPES),
        },
    )


def _cloud(router: respx.MockRouter) -> dict[Key, respx.Route]:
    """Every route of every family, answering like the real cloud, by (family, name).

    The sign-in service's token endpoint is mocked too; it is not an API route, so it is not in
    the result.
    """
    router.post(f"{DEFAULT_AUTH_URL}/token").mock(side_effect=_token_endpoint)
    return {
        ("smarther", "list_plants"): router.get(f"{SM}/plants").respond(
            200, json={"plants": [{"id": PLANT, "name": "Home"}]}
        ),
        ("smarther", "get_topology"): router.get(f"{SM}/plants/{PLANT}/topology").respond(
            200, json=TOPOLOGY
        ),
        ("smarther", "get_status"): router.get(CHRONO).respond(
            200, json=load("smarther_status.json")
        ),
        ("smarther", "set_status"): router.post(CHRONO).respond(200),
        ("smarther", "get_measures"): router.get(f"{CHRONO}/measures").respond(200, json=MEASURES),
        ("smarther", "get_programs"): router.get(f"{CHRONO}/programlist").respond(
            200, json=PROGRAMS
        ),
        ("smarther", "list_subscriptions"): router.get(f"{SM}/subscription").respond(
            200, json=SUBSCRIPTIONS
        ),
        ("smarther", "subscribe"): router.post(f"{SM}/plants/{PLANT}/subscription").respond(
            201, json={"subscriptionId": SUBSCRIPTION}
        ),
        ("smarther", "unsubscribe"): router.delete(
            f"{SM}/plants/{PLANT}/subscription/{SUBSCRIPTION}"
        ).respond(200),
        ("home_control", "list_plants"): router.get(f"{HC}/plants").respond(200, json=HC_PLANTS),
        ("home_control", "get_topology"): router.get(f"{HC}/plants/{HC_PLANT}/topology").respond(
            200, json=load("hc_topology.json")
        ),
        ("home_control", "get_plant_status"): router.get(f"{HC}/plants/{HC_PLANT}").respond(
            200, json=HC_STATUS
        ),
        ("home_control", "get_module_status"): router.get(
            path__regex=HC_MODULES % "plug/energy"
        ).respond(200, json=load("hc_plug_status.json")),
        ("home_control", "set_module_status"): router.post(
            path__regex=HC_MODULES % "(plug/energy|light/lighting)"
        ).respond(200),
        ("home_control", "set_ambient_plugs"): router.post(
            path__regex=rf"^{HC}/plug/energy/addressLocation/plants/{HC_PLANT}"
            rf"/ambients/parameter/id/value/{HC_ID}$"
        ).respond(200),
        # The same path: a level of -1 stops, any other level moves.
        ("home_control", "stop_automation"): router.post(
            path__regex=HC_MODULES % "automation/automation", json={"level": -1}
        ).respond(200),
        ("home_control", "set_automation_level"): router.post(
            path__regex=HC_MODULES % "automation/automation"
        ).respond(200),
        ("home_control", "list_scenes"): router.get(HC_SCENES).respond(200, json=HC_SCENE_LIST),
        ("home_control", "run_scene"): router.post(
            path__regex=rf"^{HC_SCENES}/modules/parameter/id/value/{HC_ID}$",
            json={"enable": True},
        ).respond(200),
        ("multisocket", "get_plugs"): router.get(path__regex=SOCKETS).respond(
            200, json=SOCKET_LIST
        ),
        ("multisocket", "set_plugs"): router.post(path__regex=SOCKETS).respond(200),
        ("door_entry", "call_home"): router.get(CALL_IN).mock(side_effect=_tickets),
    }


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The retry example turns on DEBUG logging; leave the other tests as they were."""
    logger = logging.getLogger("legrand_async")
    level, handlers = logger.level, list(logging.root.handlers)
    yield
    logger.setLevel(level)
    logging.root.handlers[:] = handlers


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The examples' default base and sign-in URLs: the ones respx answers for.
    monkeypatch.delenv("LEGRAND_BASE_URL", raising=False)
    monkeypatch.delenv("LEGRAND_AUTH_URL", raising=False)
    monkeypatch.setenv("LEGRAND_SUBSCRIPTION_KEY", KEY)
    monkeypatch.setenv("LEGRAND_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LEGRAND_PLANT_ID", PLANT)
    monkeypatch.setenv("LEGRAND_MODULE_ID", MODULE)
    monkeypatch.setenv("LEGRAND_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("LEGRAND_HC_PLANT_ID", HC_PLANT)
    monkeypatch.setenv("LEGRAND_HC_MODULE_ID", HC_MODULE)
    monkeypatch.setenv("LEGRAND_DEVICE_ID", DEVICE)
    # The authentication examples: an app, and a saved login that needs refreshing.
    monkeypatch.setenv("LEGRAND_CLIENT_ID", "client-id-2a9c")
    monkeypatch.setenv("LEGRAND_CLIENT_SECRET", "client-secret-7f1d")
    monkeypatch.setenv("LEGRAND_REDIRECT_URI", REDIRECT_URI)
    token_file = tmp_path / "token.json"
    expiring = Token(TOKEN, REFRESH, datetime.now(UTC) + timedelta(minutes=2), "comfort.read")
    FileTokenStore(token_file).save_sync(expiring)
    monkeypatch.setenv("LEGRAND_TOKEN_FILE", str(token_file))
    # The sign-in example asks for the redirect with input(): answer with the state it sent.
    sent = record_authorization_urls(monkeypatch)

    def paste(prompt: str = "") -> str:
        return f"{REDIRECT_URI}?code=code-5e1b&state={sent[-1][1]}"

    monkeypatch.setattr("builtins.input", paste)


def record_authorization_urls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every (url, state) that ``OAuthApp.authorization_url`` hands out from now on."""
    sent: list[tuple[str, str]] = []
    authorization_url = OAuthApp.authorization_url

    def recording(self: OAuthApp, state: str | None = None) -> tuple[str, str]:
        url, state = authorization_url(self, state)
        sent.append((url, state))
        return url, state

    monkeypatch.setattr(OAuthApp, "authorization_url", recording)
    return sent


def _run(block: Block) -> None:
    """Execute ``block`` as a script, in a fresh namespace."""
    # Pad with blank lines so that a traceback points at the right line of the .md file.
    code = compile("\n" * (block.line - 1) + block.source, str(block.path), "exec")
    namespace = {"__name__": "__main__", "__file__": str(block.path)}
    exec(code, namespace)  # noqa: S102 - the docs' own examples


PAGES = {family: f"{family}.md" for family in FAMILIES}


def _simulated(block: Block) -> bool:
    """A block that runs against the embedded simulator: it needs no mocked cloud."""
    return "legrand_async.simulator" in block.source


def test_docs_have_python_blocks() -> None:
    assert {"quickstart.md", *PAGES.values()} <= {block.path.name for block in BLOCKS}


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block_runs(block: Block) -> None:
    assert block.source.rstrip().endswith("asyncio.run(main())"), "not a complete program"
    if _simulated(block):
        _run(block)  # without respx: the simulator answers, in process or on a loopback port
        return
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        _cloud(router)
        _run(block)
        # Inside the context: respx forgets the calls when it stops.
        api_calls = [c for c in router.calls if c.request.url.host == httpx.URL(BASE).host]
        assert api_calls, "the example made no request"
        for call in api_calls:
            assert call.request.headers["Ocp-Apim-Subscription-Key"] == KEY
            assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_mocked_cloud_has_every_route() -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        assert set(_cloud(router)) == {(r.family, r.name) for r in ROUTES}


@pytest.mark.usefixtures("env")
def test_docs_exercise_every_route() -> None:
    """Taken together, the examples call every operation of every family."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        for block in BLOCKS:
            if not _simulated(block):
                _run(block)
        assert [key for key, route in routes.items() if not route.called] == []


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_page_exercises_its_routes(family: str) -> None:
    """A family's own page calls each of its operations (not only some other page)."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        for block in BLOCKS:
            if block.path.name == PAGES[family]:
                _run(block)
        missing = [name for (f, name), route in routes.items() if f == family and not route.called]
    assert missing == []


def _public_coroutines(family: str) -> list[str]:
    client = LegrandClient(subscription_key="k", access_token="t")
    api = type(getattr(client, FAMILIES[family].attribute))
    return [
        name
        for name, _ in inspect.getmembers(api, inspect.iscoroutinefunction)
        if not name.startswith("_")
    ]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_page_mentions_every_operation(family: str) -> None:
    page = (DOCS / PAGES[family]).read_text(encoding="utf-8")
    names = _public_coroutines(family)
    # every route, plus any composite operation (ensure_subscription), is a documented coroutine
    assert {r.name for r in ROUTES if r.family == family} <= set(names)
    missing = [name for name in names if not re.search(rf"\b{name}\b", page)]
    assert missing == []


def test_smarther_page_mentions_every_operation() -> None:
    assert len(_public_coroutines("smarther")) >= 9
    test_family_page_mentions_every_operation("smarther")


def test_home_control_page_is_marked_legacy() -> None:
    lines = (DOCS / "home_control.md").read_text(encoding="utf-8").lower().splitlines()
    assert "legacy" in lines[0]
    assert any(line.startswith("> **legacy api.**") for line in lines[:5])


def test_index_lists_every_family_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES.values():
        assert f"]({page})" in index, page


@pytest.mark.usefixtures("env")
def test_set_status_example_sends_the_portal_body() -> None:
    """The JSON the set_status example sends is the portal's body, as the page shows."""
    block = next(b for b in BLOCKS if b.path.name == "smarther.md" and "manual(21.5" in b.source)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        _run(block)
        request: httpx.Request = routes["smarther", "set_status"].calls.last.request
    body = request.content.decode()
    assert body.startswith('{"function":"heating","mode":"manual","setPoint":{"value":"21.5"')
    assert re.search(r'"activationTime":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"}$', body)


@pytest.mark.usefixtures("env")
def test_subscribe_example_handles_conflict() -> None:
    """On 409 the subscribe example finds the existing subscription instead of failing."""
    block = next(b for b in BLOCKS if b.id.endswith("-subscribe"))
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        routes["smarther", "subscribe"].respond(
            409, json={"statusCode": 409, "message": "Subscription already exists"}
        )
        _run(block)
        assert routes["smarther", "subscribe"].call_count == 1
        assert routes["smarther", "list_subscriptions"].call_count == 1


_SENDS = re.compile(r"`(SetStatus\.[^`]+)` sends:\s*```json\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_set_status_bodies_match_the_library() -> None:
    """Every "`SetStatus...` sends:" in smarther.md shows exactly the body the library sends."""
    page = (DOCS / "smarther.md").read_text(encoding="utf-8")
    pairs = _SENDS.findall(page)
    modes = {json.loads(body)["mode"] for _, body in pairs}
    assert modes == {"automatic", "manual", "boost", "off", "protection"}
    names = {"SetStatus": SetStatus, "Function": Function, "datetime": datetime}
    for expression, body in pairs:
        status = eval(expression, {"__builtins__": {}}, names)  # noqa: S307 - the docs' own text
        assert unstructure(status) == json.loads(body), expression
