"""Request bodies: SetStatus and SubscriptionRequest unstructure to exactly the portal's JSON."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async._converters import unstructure, wire_time
from legrand_async.models.smarther import Function, Mode, SetStatus, SubscriptionRequest

UNTIL = datetime(2026, 11, 21, 22, 30)
START = datetime(2026, 11, 21, 22, 30, 15)


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set this process's local time zone (a POSIX TZ string) for the test, then restore it."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")

    def set_tz(value: str) -> None:
        monkeypatch.setenv("TZ", value)
        time.tzset()

    yield set_tz
    monkeypatch.undo()
    time.tzset()


# --------------------------------------------------------------------------- automatic


def test_automatic() -> None:
    assert unstructure(SetStatus.automatic(3)) == {
        "function": "heating",
        "mode": "automatic",
        "programs": [{"number": 3}],
    }


def test_automatic_default_program_is_zero() -> None:
    assert unstructure(SetStatus.automatic()) == {
        "function": "heating",
        "mode": "automatic",
        "programs": [{"number": 0}],
    }


@pytest.mark.parametrize("program", [0, 11])
def test_automatic_program_bounds(program: int) -> None:
    assert unstructure(SetStatus.automatic(program))["programs"] == [{"number": program}]


def test_automatic_cooling() -> None:
    assert unstructure(SetStatus.automatic(1, function=Function.COOLING)) == {
        "function": "cooling",
        "mode": "automatic",
        "programs": [{"number": 1}],
    }


# --------------------------------------------------------------------------- manual


def test_manual() -> None:
    assert unstructure(SetStatus.manual(21.5)) == {
        "function": "heating",
        "mode": "manual",
        "setPoint": {"value": "21.5", "unit": "C"},
    }


def test_manual_until() -> None:
    assert unstructure(SetStatus.manual(21.5, until=UNTIL)) == {
        "function": "heating",
        "mode": "manual",
        "setPoint": {"value": "21.5", "unit": "C"},
        "activationTime": "2026-11-21T22:30:00",
    }


def test_manual_cooling() -> None:
    body = unstructure(SetStatus.manual(24, function=Function.COOLING))
    assert body == {
        "function": "cooling",
        "mode": "manual",
        "setPoint": {"value": "24.0", "unit": "C"},
    }


@pytest.mark.parametrize(
    ("setpoint", "wire"),
    [(3, "3.0"), (3.0, "3.0"), (40, "40.0"), (40.0, "40.0"), (21.456, "21.46"), (19.1, "19.1")],
)
def test_manual_setpoint_is_a_decimal_string(setpoint: float, wire: str) -> None:
    body = unstructure(SetStatus.manual(setpoint))
    assert body["setPoint"] == {"value": wire, "unit": "C"}
    assert isinstance(body["setPoint"]["value"], str)


def test_until_drops_microseconds_and_has_no_offset() -> None:
    status = SetStatus.manual(20, until=datetime(2026, 11, 21, 22, 30, 59, 999999))
    assert unstructure(status)["activationTime"] == "2026-11-21T22:30:59"


def test_aware_until_goes_to_local_time(local_tz: Any) -> None:
    local_tz("XXX-1")  # POSIX for UTC+1, no tz database needed
    status = SetStatus.manual(20, until=datetime(2026, 11, 21, 21, 30, tzinfo=UTC))
    assert unstructure(status)["activationTime"] == "2026-11-21T22:30:00"
    assert wire_time(datetime(2026, 11, 21, 23, 30, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-11-21T22:30:00"
    )
    assert wire_time(UNTIL) == "2026-11-21T22:30:00"  # naive values are sent as they are


# --------------------------------------------------------------------------- boost


@pytest.mark.parametrize(
    ("minutes", "end"),
    [(30, "2026-11-21T23:00:15"), (60, "2026-11-21T23:30:15"), (90, "2026-11-22T00:00:15")],
)
def test_boost(minutes: int, end: str) -> None:
    assert unstructure(SetStatus.boost(minutes, start=START)) == {
        "function": "heating",
        "mode": "boost",
        "activationTime": f"2026-11-21T22:30:15/{end}",
    }


def test_boost_drops_microseconds() -> None:
    status = SetStatus.boost(30, start=START.replace(microsecond=999999))
    assert status.start == START
    assert status.until == START + timedelta(minutes=30)
    assert unstructure(status)["activationTime"] == "2026-11-21T22:30:15/2026-11-21T23:00:15"


def test_boost_cooling() -> None:
    body = unstructure(SetStatus.boost(60, start=START, function=Function.COOLING))
    assert body == {
        "function": "cooling",
        "mode": "boost",
        "activationTime": "2026-11-21T22:30:15/2026-11-21T23:30:15",
    }


def test_boost_defaults_to_now() -> None:
    before = datetime.now().replace(microsecond=0)
    status = SetStatus.boost(30)
    after = datetime.now()
    assert status.start is not None
    assert status.until is not None
    assert before <= status.start <= after
    assert status.start.microsecond == 0
    assert status.start.tzinfo is None
    assert status.until - status.start == timedelta(minutes=30)


# --------------------------------------------------------------------------- off / protection


def test_off() -> None:
    assert unstructure(SetStatus.off()) == {"function": "heating", "mode": "off"}


def test_off_until() -> None:
    assert unstructure(SetStatus.off(until=UNTIL)) == {
        "function": "heating",
        "mode": "off",
        "activationTime": "2026-11-21T22:30:00",
    }


def test_protection() -> None:
    assert unstructure(SetStatus.protection()) == {"function": "heating", "mode": "protection"}
    assert unstructure(SetStatus.protection(function=Function.COOLING)) == {
        "function": "cooling",
        "mode": "protection",
    }


def test_protection_until() -> None:
    assert unstructure(SetStatus.protection(until=UNTIL)) == {
        "function": "heating",
        "mode": "protection",
        "activationTime": "2026-11-21T22:30:00",
    }


# --------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    "setpoint", [2.9, 40.1, 2.999, 40.001, -1, 0, 100, math.nan, math.inf, -math.inf]
)
def test_setpoint_out_of_range(setpoint: float) -> None:
    with pytest.raises(ValueError, match="setpoint"):
        SetStatus.manual(setpoint)


@pytest.mark.parametrize("program", [-1, 12, 100])
def test_program_out_of_range(program: int) -> None:
    with pytest.raises(ValueError, match="program"):
        SetStatus.automatic(program)


@pytest.mark.parametrize("minutes", [45, 0, 120, -30, 15, 91])
def test_boost_minutes(minutes: int) -> None:
    with pytest.raises(ValueError, match="30, 60 or 90"):
        SetStatus.boost(minutes, start=START)


@pytest.mark.parametrize("setpoint", [True, False, None, "21.5", "21", [21.5]])
def test_manual_rejects_non_numbers(setpoint: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        SetStatus.manual(setpoint)


@pytest.mark.parametrize("program", [True, False, None, "1", 1.0, 1.5])
def test_automatic_rejects_non_ints(program: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        SetStatus.automatic(program)


@pytest.mark.parametrize("minutes", [True, False, None, "30"])
def test_boost_rejects_non_ints(minutes: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        SetStatus.boost(minutes, start=START)


@pytest.mark.parametrize("until", ["2026-11-21T22:30:00", 1764000000, UNTIL.date()])
def test_until_must_be_a_datetime(until: Any) -> None:
    for make in (
        lambda: SetStatus.manual(20, until=until),
        lambda: SetStatus.off(until=until),
        lambda: SetStatus.protection(until=until),
    ):
        with pytest.raises((TypeError, ValueError)):
            make()


@pytest.mark.parametrize("start", ["2026-11-21T22:30:15", UNTIL.date()])
def test_boost_start_must_be_a_datetime(start: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        SetStatus.boost(30, start=start)


@pytest.mark.parametrize("function", [Function.UNKNOWN, "heating", None])
def test_constructors_reject_unknown_function(function: Any) -> None:
    with pytest.raises(ValueError, match="function"):
        SetStatus.off(function=function)
    with pytest.raises(ValueError, match="function"):
        SetStatus.manual(20, function=function)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"function": Function.HEATING, "mode": Mode.MANUAL}, id="manual-no-setpoint"),
        pytest.param(
            {"function": Function.HEATING, "mode": Mode.MANUAL, "program": 1},
            id="manual-program-no-setpoint",
        ),
        pytest.param({"function": Function.HEATING, "mode": Mode.AUTOMATIC}, id="auto-no-program"),
        pytest.param(
            {"function": Function.HEATING, "mode": Mode.AUTOMATIC, "setpoint": 20.0},
            id="auto-setpoint-no-program",
        ),
        pytest.param({"function": Function.UNKNOWN, "mode": Mode.OFF}, id="function-unknown"),
        pytest.param({"function": Function.HEATING, "mode": Mode.UNKNOWN}, id="mode-unknown"),
        pytest.param({"function": "heating", "mode": Mode.OFF}, id="function-str"),
        pytest.param({"function": Function.HEATING, "mode": "off"}, id="mode-str"),
        pytest.param({"function": Function.HEATING, "mode": Mode.BOOST}, id="boost-no-times"),
        pytest.param(
            {"function": Function.HEATING, "mode": Mode.BOOST, "until": UNTIL},
            id="boost-no-start",
        ),
        pytest.param(
            {
                "function": Function.HEATING,
                "mode": Mode.BOOST,
                "start": START,
                "until": START + timedelta(minutes=45),
            },
            id="boost-45-minutes",
        ),
        pytest.param(
            {
                "function": Function.HEATING,
                "mode": Mode.BOOST,
                "start": START,
                "until": START - timedelta(minutes=30),
            },
            id="boost-backwards",
        ),
        pytest.param(
            {"function": Function.HEATING, "mode": Mode.OFF, "start": START, "until": UNTIL},
            id="off-with-start",
        ),
        pytest.param(
            {"function": Function.HEATING, "mode": Mode.MANUAL, "setpoint": 50.0}, id="setpoint-50"
        ),
    ],
)
def test_inconsistent_set_status_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SetStatus(**fields)


def test_set_status_is_frozen() -> None:
    status = SetStatus.manual(20)
    with pytest.raises(AttributeError):
        status.setpoint = 50  # type: ignore[misc]


# --------------------------------------------------------------------------- property tests


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=3, max_value=40))
def test_any_setpoint_in_range_is_sent_rounded(setpoint: float) -> None:
    body = unstructure(SetStatus.manual(setpoint))
    value = body["setPoint"]["value"]
    assert isinstance(value, str)
    assert float(value) == round(setpoint, 2)
    assert body == {
        "function": "heating",
        "mode": "manual",
        "setPoint": {"value": value, "unit": "C"},
    }


@settings(max_examples=200, deadline=None)
@given(st.floats().filter(lambda x: not 3 <= x <= 40))
def test_any_setpoint_out_of_range_is_rejected(setpoint: float) -> None:
    with pytest.raises(ValueError, match="setpoint"):
        SetStatus.manual(setpoint)


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from([30, 60, 90]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
)
def test_any_naive_boost_is_a_range_of_its_length(minutes: int, start: datetime) -> None:
    wire = unstructure(SetStatus.boost(minutes, start=start))["activationTime"]
    begin, _, end = wire.partition("/")
    assert datetime.fromisoformat(begin) == start.replace(microsecond=0)
    assert datetime.fromisoformat(end) - datetime.fromisoformat(begin) == timedelta(minutes=minutes)


# --------------------------------------------------------------------------- subscriptions


@pytest.mark.parametrize(
    "url",
    ["https://example.org/hook", "https://example.org:8443/c2c?token=x", "https://10.0.0.1/hook"],
)
def test_subscription_request_body(url: str) -> None:
    assert unstructure(SubscriptionRequest(url)) == {"EndPointUrl": url}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/hook",
        "ftp://x",
        "not a url",
        "",
        "https://",
        "https:///path",
        "/relative/hook",
        "example.org/hook",
        "wss://example.org/hook",
    ],
)
def test_subscription_request_needs_an_absolute_https_url(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        SubscriptionRequest(url)


@pytest.mark.parametrize("url", [None, 42, b"https://example.org/hook"])
def test_subscription_request_needs_a_string(url: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        SubscriptionRequest(url)


# --------------------------------------------------------------------------- known bugs


def _rome() -> ZoneInfo | None:
    try:
        return ZoneInfo("Europe/Rome")
    except ZoneInfoNotFoundError:
        return None


def test_boost_start_int_raises_type_error() -> None:
    with pytest.raises((TypeError, ValueError)):
        SetStatus.boost(30, start=1764000000)  # type: ignore[arg-type]


@pytest.mark.skipif(_rome() is None, reason="needs the Europe/Rome zone from the tz database")
def test_aware_boost_across_dst_lasts_its_minutes(local_tz: Any) -> None:
    local_tz("UTC0")
    start = datetime(2026, 10, 25, 2, 45, tzinfo=_rome())  # CEST, one hour before fall-back
    wire = unstructure(SetStatus.boost(60, start=start))["activationTime"]
    begin, _, end = wire.partition("/")
    assert begin == "2026-10-25T00:45:00"
    assert datetime.fromisoformat(end) - datetime.fromisoformat(begin) == timedelta(minutes=60)
