"""The pure parsers of what the gateway says about waiting: Retry-After and quota resets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from legrand_async._transport.headers import parse_quota_reset, parse_retry_after

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
HEADER_NAMES = ("retry-after", "retry-after-ms", "x-ms-retry-after-ms")


def after(headers: Mapping[str, str], text: str | None = None) -> float | None:
    return parse_retry_after(httpx.Headers(headers), text, NOW)


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


# --- Retry-After: seconds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("600", 600.0),
    ],
)
def test_seconds(value: str, expected: float) -> None:
    result = after({"Retry-After": value})
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    "value",
    ["-1", "-0.5", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "", "soon", "7 seconds", "x7"],
)
def test_invalid_seconds_are_ignored(value: str) -> None:
    assert after({"Retry-After": value}) is None


def test_header_name_is_case_insensitive() -> None:
    assert after({"RETRY-AFTER": "3"}) == 3.0
    assert after({"Retry-After-Ms": "250"}) == 0.25


def test_no_headers_and_no_text() -> None:
    assert after({}) is None
    assert after({}, "") is None
    assert after({}, None) is None
    assert after({"Content-Type": "application/json"}, '{"statusCode":429}') is None


# --- Retry-After: HTTP dates -------------------------------------------------------------------


def test_http_date_in_the_future() -> None:
    assert after({"Retry-After": "Sat, 21 Nov 2026 12:00:30 GMT"}) == 30.0


def test_http_date_in_the_past_is_zero() -> None:
    assert after({"Retry-After": "Sat, 21 Nov 2026 11:59:00 GMT"}) == 0.0
    assert after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_http_date_now_is_zero() -> None:
    assert after({"Retry-After": http_date(NOW)}) == 0.0


def test_http_date_with_an_offset() -> None:
    # 13:01:00 +0100 is 12:01:00 UTC.
    assert after({"Retry-After": "Sat, 21 Nov 2026 13:01:00 +0100"}) == 60.0


def test_http_date_relative_to_an_aware_now_in_another_zone() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=-5)))
    headers = httpx.Headers({"Retry-After": "Sat, 21 Nov 2026 12:00:45 GMT"})
    assert parse_retry_after(headers, None, now) == 45.0


@pytest.mark.parametrize(
    "value",
    [
        "Sat, 21 Nov 2026 25:00:00 GMT",  # no such hour
        "Sat, 31 Feb 2026 12:00:00 GMT",  # no such day
        "Sat, 21 Nov 2026 12:00:00 +9999",  # no such offset
        "Sat, 21 Nov",
        "Sat, 21 Foo 2026 12:00:00 GMT",
    ],
)
def test_invalid_http_dates_are_ignored(value: str) -> None:
    assert after({"Retry-After": value}) is None


# --- retry-after-ms ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["retry-after-ms", "x-ms-retry-after-ms"])
def test_milliseconds(name: str) -> None:
    assert after({name: "1500"}) == 1.5
    assert after({name: "0"}) == 0.0


def test_milliseconds_take_precedence() -> None:
    assert after({"Retry-After": "7", "retry-after-ms": "1500"}) == 1.5
    assert after({"Retry-After": "7", "x-ms-retry-after-ms": "250"}) == 0.25
    text = "Rate limit is exceeded. Try again in 12 seconds."
    assert after({"retry-after-ms": "1500"}, text) == 1.5


def test_invalid_milliseconds_fall_back_to_retry_after() -> None:
    assert after({"Retry-After": "7", "retry-after-ms": "soon"}) == 7.0
    assert after({"Retry-After": "7", "retry-after-ms": "-5"}) == 7.0


def test_header_takes_precedence_over_text() -> None:
    assert after({"Retry-After": "7"}, "Try again in 12 seconds.") == 7.0


def test_invalid_header_falls_back_to_text() -> None:
    assert after({"Retry-After": "soon"}, "Try again in 12 seconds.") == 12.0


# --- "Try again in N seconds." -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rate limit is exceeded. Try again in 12 seconds.", 12.0),
        ('{"statusCode":429,"message":"Rate limit is exceeded. Try again in 12 seconds."}', 12.0),
        ("TRY AGAIN IN 3 SECONDS", 3.0),
        ("try again in 1 second.", 1.0),
        ("Try again in 0 seconds.", 0.0),
        ("Try again in 2.5 seconds.", 2.5),
    ],
)
def test_try_again_text(text: str, expected: float) -> None:
    assert after({}, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Rate limit is exceeded.",
        "Try again later.",
        "Try again in a few seconds.",
        "Try again in -5 seconds.",
        "Out of call volume quota. Quota will be replenished in 02:03:04.",
    ],
)
def test_text_without_a_wait(text: str) -> None:
    assert after({}, text) is None


# --- quota reset -------------------------------------------------------------------------------


def test_quota_reset() -> None:
    text = "Out of call volume quota. Quota will be replenished in 02:03:04."
    resets = parse_quota_reset(text, NOW)
    assert resets == NOW + timedelta(hours=2, minutes=3, seconds=4)
    assert resets is not None
    assert resets.utcoffset() == timedelta(0)
    assert resets.tzinfo is UTC


def test_quota_reset_with_days() -> None:
    text = "Out of call volume quota. Quota will be replenished in 1.02:03:04."
    assert parse_quota_reset(text, NOW) == NOW + timedelta(days=1, hours=2, minutes=3, seconds=4)


def test_quota_reset_is_case_insensitive_and_found_in_json() -> None:
    text = (
        '{"statusCode":403,'
        '"message":"OUT OF CALL VOLUME QUOTA. QUOTA WILL BE REPLENISHED IN 00:00:10."}'
    )
    assert parse_quota_reset(text, NOW) == NOW + timedelta(seconds=10)


def test_quota_reset_from_an_aware_now_in_another_zone_is_utc() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=2)))
    resets = parse_quota_reset("Quota will be replenished in 00:01:00.", now)
    assert resets == NOW + timedelta(minutes=1)
    assert resets is not None
    assert resets.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [None, "", "Out of call volume quota.", "Quota will be replenished soon.", "Try again in 5 s"],
)
def test_quota_reset_absent(text: str | None) -> None:
    assert parse_quota_reset(text, NOW) is None


# --- properties --------------------------------------------------------------------------------

header_values = st.text() | st.from_regex(
    r"\A\s*-?[0-9]{0,12}(\.[0-9]{0,8})?([eE][+-]?[0-9]{1,4})?\s*\Z"
)
http_like_dates = st.builds(
    lambda day, rest: f"{day}, {rest}",
    st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Foo"]),
    st.text(alphabet="0123456789 :+-ADFJMNOSTadefgnloprtuvybchGMTUZ", max_size=40),
)


def _check(result: float | None) -> None:
    assert result is None or (type(result) is float and math.isfinite(result) and result >= 0)


@given(
    headers=st.dictionaries(
        st.sampled_from(HEADER_NAMES), header_values | http_like_dates, max_size=3
    ),
    text=st.none() | st.text(),
)
def test_parser_never_raises(headers: dict[str, str], text: str | None) -> None:
    _check(parse_retry_after(headers, text, NOW))


@given(
    value=st.text() | http_like_dates,
    text=st.none() | st.text() | st.from_regex(r"[Tt]ry again in [0-9.]{1,20} seconds?"),
)
def test_parser_never_raises_on_retry_after_alone(value: str, text: str | None) -> None:
    _check(parse_retry_after({"retry-after": value}, text, NOW))


@given(text=st.text())
def test_quota_parser_never_raises(text: str) -> None:
    resets = parse_quota_reset(text, NOW)
    assert resets is None or (resets >= NOW and resets.utcoffset() == timedelta(0))


@given(seconds=st.integers(min_value=0, max_value=10**6))
def test_integer_seconds_are_exact(seconds: int) -> None:
    assert parse_retry_after({"retry-after": str(seconds)}, None, NOW) == float(seconds)


@given(ms=st.integers(min_value=0, max_value=10**9))
def test_integer_milliseconds_are_exact(ms: int) -> None:
    assert parse_retry_after({"retry-after-ms": str(ms)}, None, NOW) == ms / 1000


@given(seconds=st.integers(min_value=0, max_value=10**8))
def test_http_dates_are_exact(seconds: int) -> None:
    value = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after({"retry-after": value}, None, NOW) == float(seconds)


@given(seconds=st.integers(min_value=1, max_value=10**8))
def test_past_http_dates_are_zero(seconds: int) -> None:
    value = format_datetime(NOW - timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after({"retry-after": value}, None, NOW) == 0.0


@given(seconds=st.integers(min_value=0, max_value=10**9 - 1), prefix=st.text(), suffix=st.text())
def test_try_again_text_is_found_anywhere(seconds: int, prefix: str, suffix: str) -> None:
    text = f"{prefix} Try again in {seconds} seconds.{suffix}"
    assert parse_retry_after({}, text, NOW) == float(seconds)


@given(
    hours=st.integers(0, 999),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
)
def test_quota_reset_is_exact(hours: int, minutes: int, seconds: int) -> None:
    text = (
        "Out of call volume quota. Quota will be replenished in "
        f"{hours:02d}:{minutes:02d}:{seconds:02d}."
    )
    expected = NOW + timedelta(hours=hours, minutes=minutes, seconds=seconds)
    assert parse_quota_reset(text, NOW) == expected


# --- total over the whole datetime range -------------------------------------------------------

any_now = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
)
EXTREMES = [
    datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
    datetime.min.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
]


@given(
    headers=st.dictionaries(
        st.sampled_from(HEADER_NAMES), header_values | http_like_dates, max_size=3
    ),
    text=st.none() | st.text() | st.from_regex(r"[Tt]ry again in [0-9.]{1,20} seconds?"),
    now=any_now,
)
def test_parser_is_total_at_any_now(
    headers: dict[str, str], text: str | None, now: datetime
) -> None:
    _check(parse_retry_after(headers, text, now))


@given(
    text=st.text() | st.from_regex(r"replenished in ([0-9]{1,3}\.)?[0-9]{1,3}:[0-9]{2}:[0-9]{2}"),
    now=any_now,
)
def test_quota_parser_is_total_at_any_now(text: str, now: datetime) -> None:
    resets = parse_quota_reset(text, now)
    assert resets is None or resets.utcoffset() == timedelta(0)


@pytest.mark.parametrize("now", EXTREMES)
@pytest.mark.parametrize(
    "value",
    ["1000000000", "1e308", "1e309", "inf", "-inf", "NaN", "Fri, 31 Dec 9999 23:59:59 GMT",
     "Mon, 01 Jan 0001 00:00:00 +1400", "Fri, 31 Dec 9999 23:59:59 -1200"],
)
def test_hostile_retry_after_values_at_the_ends_of_time(now: datetime, value: str) -> None:
    _check(parse_retry_after({"retry-after": value}, None, now))
    _check(parse_retry_after({"retry-after-ms": value}, None, now))
    resets = parse_quota_reset("Quota will be replenished in 999.999:59:59.", now)
    assert resets is None or resets > now
