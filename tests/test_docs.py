"""Every ```python block of docs/*.md runs as is against a mocked cloud.

Each block is a complete program (it calls ``asyncio.run`` itself), so the tests are plain sync
tests: the block is executed in a fresh namespace as ``__main__`` with the environment variables
the docs tell users to set, while respx answers every Smarther route with a realistic payload.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
import respx

from legrand_async import Function, SetStatus
from legrand_async._converters import unstructure
from legrand_async._endpoints.smarther import SmartherAPI

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


def _cloud(router: respx.MockRouter) -> dict[str, respx.Route]:
    """Every Smarther v2.0 route, answering like the real cloud."""
    return {
        "list_plants": router.get(f"{SM}/plants").respond(
            200, json={"plants": [{"id": PLANT, "name": "Home"}]}
        ),
        "get_topology": router.get(f"{SM}/plants/{PLANT}/topology").respond(200, json=TOPOLOGY),
        "get_status": router.get(CHRONO).respond(200, json=load("smarther_status.json")),
        "set_status": router.post(CHRONO).respond(200),
        "get_measures": router.get(f"{CHRONO}/measures").respond(200, json=MEASURES),
        "get_programs": router.get(f"{CHRONO}/programlist").respond(200, json=PROGRAMS),
        "list_subscriptions": router.get(f"{SM}/subscription").respond(200, json=SUBSCRIPTIONS),
        "subscribe": router.post(f"{SM}/plants/{PLANT}/subscription").respond(
            201, json={"subscriptionId": SUBSCRIPTION}
        ),
        "unsubscribe": router.delete(f"{SM}/plants/{PLANT}/subscription/{SUBSCRIPTION}").respond(
            200
        ),
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
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGRAND_SUBSCRIPTION_KEY", KEY)
    monkeypatch.setenv("LEGRAND_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LEGRAND_PLANT_ID", PLANT)
    monkeypatch.setenv("LEGRAND_MODULE_ID", MODULE)
    monkeypatch.setenv("LEGRAND_WEBHOOK_URL", WEBHOOK)


def _run(block: Block) -> None:
    """Execute ``block`` as a script, in a fresh namespace."""
    # Pad with blank lines so that a traceback points at the right line of the .md file.
    code = compile("\n" * (block.line - 1) + block.source, str(block.path), "exec")
    namespace = {"__name__": "__main__", "__file__": str(block.path)}
    exec(code, namespace)  # noqa: S102 - the docs' own examples


def test_docs_have_python_blocks() -> None:
    assert {"quickstart.md", "smarther.md"} <= {block.path.name for block in BLOCKS}


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block_runs(block: Block) -> None:
    assert block.source.rstrip().endswith("asyncio.run(main())"), "not a complete program"
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        _cloud(router)
        _run(block)
        # Inside the context: respx forgets the calls when it stops.
        assert router.calls, "the example made no request"
        for call in router.calls:
            assert call.request.headers["Ocp-Apim-Subscription-Key"] == KEY
            assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.usefixtures("env")
def test_docs_exercise_every_route() -> None:
    """Taken together, the examples call every Smarther operation."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        for block in BLOCKS:
            _run(block)
        assert [name for name, route in routes.items() if not route.called] == []


def _public_coroutines() -> list[str]:
    return [
        name
        for name, _ in inspect.getmembers(SmartherAPI, inspect.iscoroutinefunction)
        if not name.startswith("_")
    ]


def test_smarther_page_mentions_every_operation() -> None:
    page = (DOCS / "smarther.md").read_text(encoding="utf-8")
    names = _public_coroutines()
    assert len(names) >= 9
    missing = [name for name in names if not re.search(rf"\b{name}\b", page)]
    assert missing == []


@pytest.mark.usefixtures("env")
def test_set_status_example_sends_the_portal_body() -> None:
    """The JSON the set_status example sends is the portal's body, as the page shows."""
    block = next(b for b in BLOCKS if b.path.name == "smarther.md" and "manual(21.5" in b.source)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        _run(block)
        request: httpx.Request = routes["set_status"].calls.last.request
    body = request.content.decode()
    assert body.startswith('{"function":"heating","mode":"manual","setPoint":{"value":"21.5"')
    assert re.search(r'"activationTime":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"}$', body)


@pytest.mark.usefixtures("env")
def test_subscribe_example_handles_conflict() -> None:
    """On 409 the subscribe example finds the existing subscription instead of failing."""
    block = next(b for b in BLOCKS if b.id.endswith("-subscribe"))
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        routes = _cloud(router)
        routes["subscribe"].respond(
            409, json={"statusCode": 409, "message": "Subscription already exists"}
        )
        _run(block)
        assert routes["subscribe"].call_count == 1
        assert routes["list_subscriptions"].call_count == 1


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
