"""Bad arguments are refused with ValueError / TypeError before any request is made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from legrand_async import LegrandClient, SetStatus
from legrand_async._routing import MAX_ID_LENGTH, opaque_id

from .conftest import KEY, MODULE, PLANT, TOKEN, FakeClock

HC_PLANT = "123456789009876543210"


class NoWire(httpx.AsyncBaseTransport):
    """Fails the test if anything is sent."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        raise AssertionError(f"a request went out: {request.method} {request.url}")


# --- the client ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.developer.legrand.com/?x=1",
        "https://api.developer.legrand.com?",
        "https://api.developer.legrand.com/#frag",
        "https://api.developer.legrand.com/base?key=1#f",
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="query or a fragment"):
        LegrandClient(KEY, base_url=base_url)


def test_a_base_url_with_a_path_is_fine() -> None:
    client = LegrandClient(KEY, base_url="https://proxy.example.org/legrand/")
    assert "proxy.example.org/legrand" in repr(client)


@pytest.mark.parametrize("base_url", [None, b"https://x", 42])
def test_a_base_url_that_is_not_a_str_is_a_type_error(base_url: object) -> None:
    with pytest.raises(TypeError, match="base_url"):
        LegrandClient(KEY, base_url=base_url)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [None, 42, b"key", ["key"]])
def test_a_subscription_key_that_is_not_a_str_is_a_type_error(key: object) -> None:
    with pytest.raises(TypeError, match="subscription_key"):
        LegrandClient(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_subscription_key_is_a_value_error(key: str) -> None:
    with pytest.raises(ValueError, match="subscription_key"):
        LegrandClient(key)


# --- opaque ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "x" * (MAX_ID_LENGTH + 1),
        "plant\x00id",
        "plant\nid",
        "plant\rid",
        "\x1b[31m",
        "id\x7f",
        "id\x85",  # C1 control (NEL)
        "id\ud800",  # a lone surrogate: no UTF-8 form
        # The one character rule of _secrets.refuse_unsafe_characters, as for secrets:
        "evil\u202etxt.exe",  # a bidi override: the id would show reversed in a log
        "id\u200b",  # zero width space
        "id\u2028x",  # line separator
        "id\ue000",  # private use
    ],
)
def test_bad_opaque_ids_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="plant_id") as info:
        opaque_id("plant_id", value)
    assert value not in str(info.value)  # the position is named, never the id


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["x" * 257, "a\x00b", "a\tb", "a\ud800"])
async def test_bad_opaque_ids_are_refused_before_any_request(bad: str) -> None:
    wire = NoWire()
    async with LegrandClient(KEY, access_token=TOKEN, transport=wire, clock=FakeClock()) as client:
        with pytest.raises(ValueError, match="plant_id"):
            await client.home_control.get_topology(bad)
        with pytest.raises(ValueError, match="scene_id"):
            await client.home_control.run_scene(HC_PLANT, bad)
        with pytest.raises(ValueError, match="value"):
            await client.multisocket.get_plugs(PLANT, "name", bad)
    assert wire.sent == []


def test_ids_up_to_256_characters_and_any_printable_text_are_fine() -> None:
    assert opaque_id("id", "x" * MAX_ID_LENGTH) == "x" * MAX_ID_LENGTH
    assert opaque_id("id", "Salle de séjour / 2 ✓") == "Salle de séjour / 2 ✓"


# --- datetimes the wire can carry ------------------------------------------------------------


@pytest.mark.parametrize(
    "until",
    [
        datetime(999, 12, 31, 23, 0),
        datetime(1, 1, 1),
        datetime.min.replace(tzinfo=UTC),
        datetime.max,
        datetime.max.replace(tzinfo=UTC),
        datetime(9999, 12, 31, 12, tzinfo=timezone(timedelta(hours=-23))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23))),
    ],
)
def test_an_until_the_wire_cannot_carry_is_refused(until: datetime) -> None:
    for build in (
        lambda: SetStatus.manual(20, until=until),
        lambda: SetStatus.off(until=until),
        lambda: SetStatus.protection(until=until),
    ):
        with pytest.raises(ValueError, match="until"):
            build()


@pytest.mark.parametrize(
    "start",
    [
        datetime(999, 12, 31, 23, 59),
        datetime.max,
        datetime.max - timedelta(minutes=30),
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
    ],
)
def test_a_boost_start_the_wire_cannot_carry_is_refused(start: datetime) -> None:
    with pytest.raises(ValueError, match="start"):
        SetStatus.boost(90, start=start)


@pytest.mark.parametrize("start", ["2026-01-01T00:00:00", 1767225600, None.__class__])
def test_a_boost_start_that_is_not_a_datetime_is_a_type_error(start: Any) -> None:
    with pytest.raises(TypeError, match="start"):
        SetStatus.boost(30, start=start)


def test_an_until_that_is_not_a_datetime_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="until"):
        SetStatus.off(until="tomorrow")  # type: ignore[arg-type]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "status",
    [
        SetStatus.off(until=datetime(1000, 1, 2)),
        SetStatus.boost(90, start=datetime(9999, 12, 29)),
        SetStatus.manual(20, until=datetime(9999, 12, 29, tzinfo=timezone(timedelta(hours=-23)))),
        SetStatus.off(until=datetime(2026, 6, 1, 12)),  # naive: a wall time as it is
        SetStatus.boost(30, start=datetime(2026, 6, 1, 12, tzinfo=UTC)),  # aware
    ],
)
async def test_the_edges_of_the_range_format_and_are_sent(status: SetStatus) -> None:
    sent: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200)

    async with LegrandClient(
        KEY, access_token=TOKEN, transport=httpx.MockTransport(handler), clock=FakeClock()
    ) as client:
        await client.smarther.set_status(PLANT, MODULE, status)
    assert b'"activationTime":"' in sent[0]
    moment = sent[0].split(b'"activationTime":"')[1][:4]
    assert moment.isdigit()
    assert len(moment) == 4
