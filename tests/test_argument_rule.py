"""The one argument rule (docs/quickstart.md, "Arguments"), over every public number argument.

A wrong type is a TypeError (a bool is not a number; a float is not a count), a right type with
a bad value a ValueError; the message names the argument and never shows what was given unless
it is a number; and nothing is sent. The TypeError is also a ValueError, as 0.x raised for some.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from legrand_async import (
    LegrandClient,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    RateLimit,
    RetryPolicy,
    SetStatus,
)
from legrand_async._checks import ArgumentTypeError, count, real
from legrand_async.demo import run_demo
from legrand_async.webhooks import WebhookReceiver

from .conftest import KEY, MODULE, PLANT, TOKEN, FakeClock
from .test_arguments import NoWire

SECRET_TEXT = "s3cr3t-not-a-number"  # given where a number goes: never echoed

#: Wrong types for a number of seconds (or any real), and bad values.
REAL_TYPES: list[object] = [True, False, SECRET_TEXT, None, Decimal("1"), [1], 1j]
REAL_VALUES: list[object] = [-1, math.nan, math.inf, -math.inf, 10**400]
#: Wrong types for a count (a float, however whole, is not one), and bad values.
COUNT_TYPES: list[object] = [True, 2.0, 2.5, math.nan, math.inf, SECRET_TEXT, None, Decimal(3)]
COUNT_VALUES: list[object] = [0, -1, -(10**400)]

Build = Callable[[LegrandClient, object], Any]


def _app() -> OAuthApp:
    return OAuthApp("client-id", "client-secret", "https://app.example.org/callback")


async def _fetch(target: str) -> int:
    raise AssertionError("nothing is fetched")


#: (argument, how to pass it, kind): the kind picks the bad values (:data:`KINDS`).
ARGUMENTS: list[tuple[str, Build, str]] = [
    ("per_second", lambda c, v: RateLimit(per_second=v), "real?"),  # type: ignore[arg-type]
    ("max_wait", lambda c, v: RateLimit(max_wait=v), "real"),  # type: ignore[arg-type]
    ("flush_delay", lambda c, v: RateLimit(flush_delay=v), "real"),  # type: ignore[arg-type]
    ("per_day", lambda c, v: RateLimit(per_day=v), "count?"),  # type: ignore[arg-type]
    ("max_concurrency", lambda c, v: RateLimit(max_concurrency=v), "count?"),  # type: ignore[arg-type]
    ("max_attempts", lambda c, v: RetryPolicy(max_attempts=v), "count"),  # type: ignore[arg-type]
    ("initial_delay", lambda c, v: RetryPolicy(initial_delay=v), "real"),  # type: ignore[arg-type]
    ("max_delay", lambda c, v: RetryPolicy(max_delay=v), "real"),  # type: ignore[arg-type]
    ("max_retry_after", lambda c, v: RetryPolicy(max_retry_after=v), "real"),  # type: ignore[arg-type]
    ("jitter", lambda c, v: RetryPolicy(jitter=v), "real"),  # type: ignore[arg-type]
    ("the wait for 486", lambda c, v: RetryPolicy(statuses={486: v}), "real"),  # type: ignore[dict-item]
    ("an HTTP status", lambda c, v: RetryPolicy(statuses={v: 1.0}), "count"),  # type: ignore[dict-item]
    ("timeout", lambda c, v: LegrandClient(KEY, timeout=v), "real?"),  # type: ignore[arg-type]
    ("timeout.read", lambda c, v: LegrandClient(KEY, timeout=httpx.Timeout(5, read=v)), "real?"),  # type: ignore[arg-type]
    ("max_body_size", lambda c, v: LegrandClient(KEY, max_body_size=v), "count"),  # type: ignore[arg-type]
    ("timeout", lambda c, v: OAuthApp("id", "secret", "https://a.example/cb", timeout=v), "real?"),  # type: ignore[arg-type]
    (
        "refresh_margin",
        lambda c, v: OAuth2Auth(_app(), MemoryTokenStore(), refresh_margin=v),  # type: ignore[arg-type]
        "real",
    ),
    ("read_timeout", lambda c, v: WebhookReceiver("x" * 20, read_timeout=v), "real?"),  # type: ignore[arg-type]
    ("dedup_seconds", lambda c, v: WebhookReceiver("x" * 20, dedup_seconds=v), "real"),  # type: ignore[arg-type]
    ("max_body", lambda c, v: WebhookReceiver("x" * 20, max_body=v), "count"),  # type: ignore[arg-type]
    ("queue_size", lambda c, v: WebhookReceiver("x" * 20, queue_size=v), "count"),  # type: ignore[arg-type]
    ("queue_bytes", lambda c, v: WebhookReceiver("x" * 20, queue_bytes=v), "count"),  # type: ignore[arg-type]
    ("dedup_size", lambda c, v: WebhookReceiver("x" * 20, dedup_size=v), "count"),  # type: ignore[arg-type]
    ("max_buffered", lambda c, v: WebhookReceiver("x" * 20, max_buffered=v), "count"),  # type: ignore[arg-type]
    ("interval", lambda c, v: c.poll(_fetch, ["a"], interval=v), "real?"),  # type: ignore[arg-type]
    ("reserve", lambda c, v: c.poll(_fetch, ["a"], reserve=v), "real"),  # type: ignore[arg-type]
    ("concurrency", lambda c, v: c.poll(_fetch, ["a"], concurrency=v), "count?"),  # type: ignore[arg-type]
    ("interval", lambda c, v: c.poll_thermostats(interval=v), "real?"),  # type: ignore[arg-type]
    ("reserve", lambda c, v: c.poll_thermostats(reserve=v), "real"),  # type: ignore[arg-type]
    ("concurrency", lambda c, v: c.poll_thermostats(concurrency=v), "count?"),  # type: ignore[arg-type]
    (
        "discovery_interval",
        lambda c, v: c.poll_thermostats(discovery_interval=v),  # type: ignore[arg-type]
        "real",
    ),
    ("setpoint", lambda c, v: SetStatus.manual(v), "real?"),  # type: ignore[arg-type]
    ("program", lambda c, v: SetStatus.automatic(v), "program"),  # type: ignore[arg-type]
]

#: The bad values of each kind: (wrong types, bad values); "?": None is fine (no limit, default).
KINDS: dict[str, tuple[list[object], list[object]]] = {
    "real": (REAL_TYPES, REAL_VALUES),
    "real?": ([v for v in REAL_TYPES if v is not None], REAL_VALUES),
    "count": (COUNT_TYPES, COUNT_VALUES),
    "count?": ([v for v in COUNT_TYPES if v is not None], COUNT_VALUES),
    "program": ([v for v in COUNT_TYPES if v is not None], [-1, 12, 10**400]),
}

CASES = [
    pytest.param(name, build, bad, error, id=f"{name}-{error.__name__}-{bad!r:.20}")
    for name, build, kind in ARGUMENTS
    for error, values in zip((TypeError, ValueError), KINDS[kind], strict=True)
    for bad in values
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("name", "build", "bad", "error"), CASES)
async def test_every_bad_number_argument_is_refused_by_the_rule_before_any_request(
    name: str, build: Build, bad: object, error: type[Exception]
) -> None:
    wire = NoWire()
    async with LegrandClient(KEY, access_token=TOKEN, transport=wire, clock=FakeClock()) as client:
        with pytest.raises(error) as info:
            build(client, bad)
    text = str(info.value)
    assert name in text
    assert SECRET_TEXT not in text
    if error is TypeError:
        assert isinstance(info.value, ValueError)  # what 0.x raised for a bool or a string
    else:
        assert not isinstance(info.value, TypeError)  # a right type with a bad value
    assert wire.sent == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.home_control.set_automation_level("123", "456", True), TypeError),
        (lambda c: c.home_control.set_automation_level("123", "456", 50.0), TypeError),
        (lambda c: c.home_control.set_automation_level("123", "456", 101), ValueError),
        (lambda c: c.home_control.set_automation_level("123", "456", -1), ValueError),
        (lambda c: c.smarther.set_status(PLANT, MODULE, SetStatus.manual(True)), TypeError),
        (lambda c: c.smarther.set_status(PLANT, MODULE, SetStatus.manual(41)), ValueError),
        (lambda c: c.smarther.set_status(PLANT, MODULE, SetStatus.automatic(1.0)), TypeError),
        (lambda c: c.smarther.set_status(PLANT, MODULE, SetStatus.automatic(12)), ValueError),
    ],
)
async def test_command_arguments_send_nothing(call: Any, error: type[Exception]) -> None:
    wire = NoWire()
    async with LegrandClient(KEY, access_token=TOKEN, transport=wire, clock=FakeClock()) as client:
        with pytest.raises(error, match=r"level|setpoint|program"):
            await call(client)
    assert wire.sent == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"plants": 2.5}, TypeError),
        ({"plants": True}, TypeError),
        ({"plants": 0}, ValueError),
        ({"thermostats": 11}, ValueError),
        ({"seconds": "60"}, TypeError),
        ({"seconds": math.nan}, ValueError),
        ({"faults": 1.5}, ValueError),
        ({"per_second": 10.0}, TypeError),
    ],
)
async def test_the_demo_refuses_arguments_by_the_same_rule(
    options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match="--" + next(iter(options)).replace("_", "-")):
        await run_demo(**options, clock=FakeClock())


def test_a_huge_int_is_shown_by_its_size_not_its_digits() -> None:
    # repr() of an int past 4300 digits is itself a ValueError: the message must still be made.
    with pytest.raises(ValueError, match="an int of 16610 bits") as info:
        real("x", 10**5000)
    assert "0000" not in str(info.value)
    with pytest.raises(ValueError, match="-an int of"):
        count("n", -(10**5000))


def test_good_values_come_back_as_given() -> None:
    assert real("x", 3) == 3
    assert isinstance(real("x", 3), int)
    assert math.copysign(1, real("x", -0.0, minimum=0)) == 1  # -0.0 is 0.0
    assert count("n", 10**400) == 10**400
    assert issubclass(ArgumentTypeError, TypeError)
    assert issubclass(ArgumentTypeError, ValueError)
