"""Bad arguments of every kind: a clear ValueError / TypeError, raised before any request.

Beyond ``test_arguments``: base URLs with user info, bad ports and hosts httpx cannot parse;
timeouts that would fail every call or never end; keys a header cannot carry; retry policies
and body caps of the wrong type; and every path parameter of every route given values the
wire must not see.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest

from legrand_async import LegrandClient, ModuleKind, RetryPolicy, SetStatus
from legrand_async._routes import ROUTES
from legrand_async._routing import Route, opaque_id, uuid_id

from .conftest import KEY, MODULE, PLANT, TOKEN, FakeClock
from .test_arguments import NoWire

# --- base_url ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:hunter2@api.developer.legrand.com",
        "https://user@api.developer.legrand.com",
        "https://:hunter2@api.developer.legrand.com/",
    ],
)
def test_a_base_url_with_user_info_is_refused_without_echoing_it(base_url: str) -> None:
    with pytest.raises(ValueError, match="user name or password") as info:
        LegrandClient(KEY, base_url=base_url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://[::1",  # httpx.InvalidURL
        "https://host/\n",  # a control character
        "https://host\u00a0/",  # IDNA
        "https://xn--/",  # a broken A-label (an IDNAError, a UnicodeError)
        "https://host:99999",
        "https://host:0",
        "https://ho st",
        "https://",
        "ftp://host",
        "host/path",
        "/relative/path",
        "//host/path",
        "",
        "https://host/path?",
        "https://host/#",
    ],
)
def test_a_base_url_that_is_not_one_to_append_paths_to_is_a_value_error(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        LegrandClient(KEY, base_url=base_url)


@pytest.mark.parametrize("base_url", [httpx.URL("https://host"), b"https://host", None, 1.5])
def test_a_base_url_that_is_not_a_str_is_a_type_error(base_url: object) -> None:
    with pytest.raises(TypeError, match="base_url"):
        LegrandClient(KEY, base_url=base_url)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "base_url", ["https://héllo.example/api/", "http://127.0.0.1:8080", "https://[::1]:443/x"]
)
def test_good_base_urls_are_kept(base_url: str) -> None:
    assert base_url.rstrip("/") in repr(LegrandClient(KEY, base_url=base_url))


# --- timeout -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (-0.0, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (True, TypeError),  # a bool is not a number
        ("20", TypeError),
        ([20], TypeError),
        (Decimal(20), TypeError),
        (httpx.Timeout(-1), ValueError),
        (httpx.Timeout(5, read=math.nan), ValueError),
        (httpx.Timeout(5, pool=0), ValueError),
        (httpx.Timeout(5, connect=math.inf), ValueError),
    ],
)
def test_a_timeout_that_fails_every_call_or_never_ends_is_refused(
    timeout: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="timeout"):
        LegrandClient(KEY, timeout=timeout)


@pytest.mark.parametrize("timeout", [None, 0.001, 20, 1e6, httpx.Timeout(5, read=None)])
def test_good_timeouts_are_accepted(timeout: Any) -> None:
    LegrandClient(KEY, timeout=timeout)


# --- the subscription key ---------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"key", 12345, None, ["k"], uuid.uuid4()])
def test_a_key_that_is_not_a_str_is_a_type_error(key: object) -> None:
    with pytest.raises(TypeError, match="subscription_key"):
        LegrandClient(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["clé-secrète", "ключ", "\ufeffa1b2", "a1b2\u2028", "a1\u200bb2"])
def test_a_key_a_header_cannot_carry_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ValueError, match="subscription_key") as info:
        LegrandClient(key)
    assert key.strip() not in str(info.value)


# --- RetryPolicy and max_body_size --------------------------------------------------------------


@pytest.mark.parametrize("field", ["initial_delay", "max_delay", "max_retry_after", "jitter"])
@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, TypeError),  # a bool is not a number
        (False, TypeError),
        ("1", TypeError),
        (None, TypeError),
        (Decimal("0.5"), TypeError),  # would fail later, multiplied by a float mid-retry
        (Fraction(1, 2), TypeError),
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (10**400, ValueError),
    ],
)
def test_a_retry_policy_number_of_the_wrong_kind_is_refused(
    field: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match=field):
        RetryPolicy(**{field: value})


@pytest.mark.parametrize("value", [0, 1, -1, 2.0, "4", None, True, 10**100 + 0.5])
def test_max_attempts_is_an_int_of_at_least_one(value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        assert RetryPolicy(max_attempts=value).max_attempts == value
        return
    wrong_type = isinstance(value, bool) or not isinstance(value, int)
    with pytest.raises(TypeError if wrong_type else ValueError, match="max_attempts") as info:
        RetryPolicy(max_attempts=value)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)  # what 0.x raised for all of them


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (math.nan, TypeError), (1.0, TypeError),
     ("4096", TypeError), (None, TypeError), (True, TypeError), (Decimal(4096), TypeError)],
)
def test_max_body_size_is_refused_before_anything_is_built(
    value: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="max_body_size"):
        LegrandClient(KEY, max_body_size=value)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_huge_max_body_size_works() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"plants": []})

    async with LegrandClient(
        KEY, access_token=TOKEN, transport=httpx.MockTransport(handler), max_body_size=2**80,
        clock=FakeClock(),
    ) as client:
        assert await client.smarther.list_plants() == []


# --- every path parameter of every route --------------------------------------------------------


def good_value(check: Any) -> Any:
    if check is uuid_id:
        return PLANT
    if check is opaque_id:
        return "123456789"
    for value in ("id", ModuleKind.PLUG, "plug"):
        try:
            check("x", value)
        except ValueError:
            continue
        return value
    raise AssertionError(f"no good value for {check}")


BAD_VALUES: list[tuple[object, type[Exception]]] = [
    (None, TypeError),
    (123, TypeError),
    (b"abc", TypeError),
    (uuid.UUID(PLANT), TypeError),
    ("", ValueError),
    ("   ", ValueError),
    (".", ValueError),
    ("..", ValueError),
    ("x" * 257, ValueError),
    ("a\x00b", ValueError),
    ("a\nb", ValueError),
    ("a\x1b[2Jb", ValueError),
    ("a\x85b", ValueError),
    ("a\ud800b", ValueError),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.family}.{r.name}")
def test_every_path_parameter_refuses_what_the_wire_must_not_see(route: Route) -> None:
    good = [good_value(param.check) for param in route.params]
    route.render_path(good)  # the good values pass
    for position, param in enumerate(route.params):
        strict = param.check in (uuid_id, opaque_id)  # the others are fixed choices
        for bad, error in BAD_VALUES:
            args = list(good)
            args[position] = bad
            with pytest.raises(error if strict else (ValueError, TypeError)) as info:
                route.render_path(args)
            assert param.name in str(info.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["..", "x" * 300, "a\rb", "a\ud800", ""])
async def test_bad_ids_on_the_public_api_send_nothing(bad: str) -> None:
    wire = NoWire()
    async with LegrandClient(KEY, access_token=TOKEN, transport=wire, clock=FakeClock()) as client:
        calls = [
            lambda: client.smarther.get_status(bad, MODULE),
            lambda: client.smarther.get_status(PLANT, bad),
            lambda: client.smarther.unsubscribe(PLANT, bad),
            lambda: client.home_control.get_topology(bad),
            lambda: client.home_control.run_scene("123", bad),
            lambda: client.multisocket.get_plugs(PLANT, "id", bad),
        ]
        for call in calls:
            with pytest.raises(ValueError, match=r"_id|value"):
                await call()
    assert wire.sent == []


# --- datetimes the wire cannot carry -------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1),
        datetime(999, 12, 31, 23, 59, 59),
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime.max,
        datetime.max.replace(tzinfo=UTC) - timedelta(days=1),
        datetime.min.replace(tzinfo=UTC),
    ],
)
def test_until_and_boost_start_at_the_ends_of_time_are_value_errors(moment: datetime) -> None:
    for build in (
        lambda: SetStatus.manual(21, until=moment),
        lambda: SetStatus.off(until=moment),
        lambda: SetStatus.protection(until=moment),
        lambda: SetStatus.boost(30, start=moment),
    ):
        with pytest.raises(ValueError, match=r"until|start"):
            build()
