"""One classification per response, read by the retry loop, the limiter and the error mapping.

The quota text wherever the gateway puts it, ``Retry-After`` parsed once, a server-side
``QuotaExhausted`` that is also a ``Forbidden`` (the 403 and every call failed fast after it),
the 429 pause on the shared limiter capped like the retry wait, and a secret scrubber that does
not recurse on the input's depth.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

import legrand_async._transport.classify as classify_module
from legrand_async import (
    APIError,
    FileQuotaStore,
    Forbidden,
    QuotaExhausted,
    RateLimit,
    RateLimited,
    RetryPolicy,
    ServerQuotaExhausted,
)
from legrand_async._responses import error_from_response
from legrand_async._secrets import scrub_json
from legrand_async._transport.classify import (
    CLASSIFICATION,
    Classification,
    Kind,
    classify,
    parse_error_body,
)

from .conftest import (
    CHRONO,
    KEY,
    MODULE,
    PLANT,
    TOKEN,
    FakeClock,
    make_client,
    ok_status,
    through_the_stack,
)

QUOTA = "Out of call volume quota. Quota will be replenished in 02:00:00."
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# --- the quota text, wherever the body carries it --------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "answer",
    [
        {"json": {"statusCode": 403, "message": QUOTA}},
        {"json": {"errors": [{"userMessage": QUOTA, "code": 403}]}},
        {"json": {"errors": [{"userMessage": "Forbidden", "internalMessage": QUOTA}]}},
        {"json": {"errors": [{"userMessage": "a"}, {"internalMessage": QUOTA}]}},
        {"json": {"error": {"code": "QuotaExceeded", "message": QUOTA}}},
        {"json": [{"message": QUOTA}]},
        {"text": QUOTA},
        {"content": b'{"message": "Out of call volume quota\\u002e Quota will be replenished '
                    b'in 02:00:00."}'},
    ],
    ids=[
        "message",
        "userMessage",
        "internalMessage",
        "second error",
        "error.message",
        "list",
        "plain text",
        "escaped",
    ],
)
async def test_the_quota_text_is_recognised_wherever_it_is(
    mock: respx.MockRouter, clock: FakeClock, answer: dict[str, Any]
) -> None:
    route = mock.get(CHRONO).respond(403, **answer)
    async with make_client(clock, rate_limit=RateLimit(per_day=500)) as client:
        with pytest.raises(ServerQuotaExhausted) as info:
            await client.smarther.get_status(PLANT, MODULE)
        assert info.value.resets_at == NOW + timedelta(hours=2)
        assert route.call_count == 1  # never retried
        quota = client.quota
        assert quota is not None
        assert quota.remaining_today == 0
        assert quota.resets_at == NOW + timedelta(hours=2)


@pytest.mark.asyncio
async def test_a_server_quota_error_is_a_forbidden_with_status_body_and_attempts(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).respond(403, json={"statusCode": 403, "message": QUOTA})
    async with make_client(clock, rate_limit=RateLimit(per_day=500)) as client:
        with pytest.raises(Forbidden) as first:
            await client.smarther.get_status(PLANT, MODULE)
        clock.advance(60)
        with pytest.raises(Forbidden) as later:  # failed fast by the limiter, same class
            await client.smarther.get_status(PLANT, MODULE)
    for error in (first.value, later.value):
        assert type(error) is ServerQuotaExhausted
        assert isinstance(error, QuotaExhausted)
        assert isinstance(error, APIError)
        assert error.status_code == 403
        assert error.body == {"statusCode": 403, "message": QUOTA}
        assert error.resets_at == NOW + timedelta(hours=2)
        assert str(error).startswith("403 ")
    assert first.value.attempts == 1
    assert later.value.attempts == 0  # nothing was sent
    assert "2026-11-21T14:00:00" in later.value.message


@pytest.mark.asyncio
async def test_clients_sharing_a_limiter_fail_fast_with_the_gateways_error(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).respond(403, json={"statusCode": 403, "message": QUOTA})
    shared = RateLimit(per_day=500)
    async with make_client(clock, rate_limit=shared) as one, make_client(
        clock, rate_limit=shared
    ) as two:
        with pytest.raises(ServerQuotaExhausted):
            await one.smarther.get_status(PLANT, MODULE)
        with pytest.raises(ServerQuotaExhausted) as info:
            await two.smarther.get_status(PLANT, MODULE)
    assert info.value.status_code == 403
    assert len(mock.calls) == 1


@pytest.mark.asyncio
async def test_the_local_daily_count_stays_a_plain_quota_exhausted(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).mock(side_effect=lambda request: ok_status())
    async with make_client(clock, rate_limit=RateLimit(per_day=1)) as client:
        await client.smarther.get_status(PLANT, MODULE)
        with pytest.raises(QuotaExhausted) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert type(info.value) is QuotaExhausted
    assert info.value.status_code is None


@pytest.mark.asyncio
async def test_a_quota_answer_with_another_status_is_not_retried(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).respond(429, json={"message": QUOTA}, headers={"Retry-After": "1"})
    async with make_client(clock) as client:
        with pytest.raises(ServerQuotaExhausted) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.status_code == 429
    assert route.call_count == 1
    assert clock.sleeps == []


# --- read once -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_each_response_is_classified_once(
    mock: respx.MockRouter, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    waits: list[str | None] = []
    real_classify, real_parse = classify_module.classify, classify_module.parse_retry_after

    def counting_classify(status: int, *args: Any, **kwargs: Any) -> Classification:
        calls.append(status)
        return real_classify(status, *args, **kwargs)

    def counting_parse(headers: Any, text: str | None, now: datetime) -> float | None:
        waits.append(headers.get("retry-after"))
        return real_parse(headers, text, now)

    monkeypatch.setattr("legrand_async._transport.bounded.classify", counting_classify)
    monkeypatch.setattr(classify_module, "parse_retry_after", counting_parse)
    mock.get(CHRONO).mock(
        side_effect=[
            httpx.Response(429, json={"message": "slow"}, headers={"Retry-After": "3"}),
            httpx.Response(503, json={"message": "down"}),
            ok_status(),
        ]
    )
    async with make_client(clock, rate_limit=RateLimit(per_day=None)) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert calls == [429, 503, 200]
    assert waits == ["3", None]  # once per error answer: the limiter and the loop share it
    assert clock.sleeps == [3.0, 1.0]


def test_the_record_is_what_the_error_mapping_reads() -> None:
    request = httpx.Request("GET", CHRONO)
    response = httpx.Response(500, content=b'{"message": "on the wire"}', request=request)
    record = Classification(500, Kind.ERROR, retry_after=9.0, code=77, message="recorded")
    response.extensions[CLASSIFICATION] = record
    error = error_from_response(response, attempts=2)
    assert (error.message, error.code, getattr(error, "retry_after", None)) == ("recorded", 77, 9.0)


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        (200, b'{"a": 1}', Kind.OK),
        (200, b"", Kind.OK),
        (200, b'{"a": ', Kind.MALFORMED),
        (200, b"[" * 100_000, Kind.MALFORMED),
        (200, b"\xff", Kind.MALFORMED),
        (404, b"not json", Kind.ERROR),
        (403, QUOTA.encode(), Kind.QUOTA),
    ],
)
def test_classify(status: int, content: bytes, kind: Kind) -> None:
    record = classify(status, httpx.Headers(), content, now=NOW, expects_json=True)
    assert record.kind is kind
    assert record.status == status


@given(st.integers(100, 599), st.binary(max_size=300), st.booleans())
def test_classify_is_total(status: int, content: bytes, expects_json: bool) -> None:
    record = classify(status, httpx.Headers(), content, now=NOW, expects_json=expects_json)
    assert isinstance(record, Classification)


@given(st.binary(max_size=500))
def test_parse_error_body_is_total(content: bytes) -> None:
    code, message, _ = parse_error_body(content)
    assert code is None or isinstance(code, int | str)
    assert message is None or isinstance(message, str)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda inner: (
    st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
)))
def test_parse_error_body_reads_any_json(value: Any) -> None:
    import json

    parse_error_body(json.dumps(value).encode())


def test_error_bodies_nested_too_deep_are_kept_as_text() -> None:
    deep = b'{"message": "x", "a": ' + b"[" * 200 + b"]" * 200 + b"}"
    _code, message, body = parse_error_body(deep)
    assert isinstance(body, str)
    assert message == deep.decode()


# --- the scrubber ----------------------------------------------------------------------------


def test_the_scrubber_does_not_recurse_on_depth() -> None:
    value: Any = f"has {KEY}"
    for level in range(100_000):
        value = [value] if level % 2 else {f"k{TOKEN}": value}
    scrubbed = scrub_json(value, [KEY, TOKEN])
    for level in reversed(range(100_000)):
        if level % 2:
            (scrubbed,) = scrubbed
        else:
            ((key, scrubbed),) = scrubbed.items()
            assert key == "k***"
    assert scrubbed == "has ***"


def test_the_scrubber_keeps_shape_and_other_values() -> None:
    value = {"a": [1, 2.5, None, True, KEY], KEY: {"b": f"x{TOKEN}y"}}
    expected = {"a": [1, 2.5, None, True, "***"], "***": {"b": "x***y"}}
    assert scrub_json(value, [KEY, TOKEN]) == expected


# --- the 429 pause on the shared limiter is capped --------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "retry_after",
    ["1000000000", "1e308", "1e309", "inf", "-inf", "NaN", "Fri, 31 Dec 9999 23:59:59 GMT", "-5"],
)
async def test_no_retry_after_blocks_the_limiter_past_the_cap(
    mock: respx.MockRouter, clock: FakeClock, retry_after: str
) -> None:
    answers = [
        httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": retry_after}),
        ok_status(),
    ]
    route = mock.get(CHRONO).mock(side_effect=answers)
    policy = RetryPolicy(jitter=0, max_retry_after=30, max_attempts=1)
    limiter = RateLimit(per_day=None, max_wait=60)
    async with make_client(clock, retry=policy, rate_limit=limiter) as client:
        with pytest.raises(RateLimited) as info:
            await client.smarther.get_status(PLANT, MODULE)
        assert info.value.retry_after is None or math.isfinite(info.value.retry_after)
        quota = client.quota  # always readable, never an OverflowError
        assert quota is not None
        if quota.paused_until is not None:
            assert quota.paused_until <= clock.now() + timedelta(seconds=30)
        await client.smarther.get_status(PLANT, MODULE)  # waits at most the cap
    assert route.call_count == 2
    assert sum(clock.sleeps) <= 30


@pytest.mark.asyncio
async def test_a_long_429_wait_pauses_the_limiter_for_the_cap_and_raises_at_once(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).respond(429, json={"message": "x"}, headers={"Retry-After": "1000000000"})
    limiter = RateLimit(per_day=None, max_wait=10)
    async with make_client(clock, rate_limit=limiter) as client:
        with pytest.raises(RateLimited) as info:
            await client.smarther.get_status(PLANT, MODULE)
        assert info.value.retry_after == 1e9
        quota = client.quota
        assert quota is not None
        assert quota.paused_until == clock.now() + timedelta(seconds=120)  # max_retry_after
        with pytest.raises(QuotaExhausted):  # a wait over max_wait fails fast, as before
            await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_a_retry_after_in_the_years_is_not_slept(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).respond(
        503, json={"message": "x"}, headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}
    )
    async with make_client(clock) as client:
        with pytest.raises(APIError) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after is not None
    assert info.value.retry_after > 1e11
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_secrets_in_quota_answers_are_scrubbed() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Ocp-Apim-Subscription-Key": KEY}
    request = httpx.Request("GET", CHRONO, headers=headers)
    answer = httpx.Response(403, json={"message": f"{QUOTA} key {KEY}"})
    response = await through_the_stack(request, answer)
    error = error_from_response(response, attempts=1)
    assert isinstance(error, ServerQuotaExhausted)
    assert KEY not in str(error)
    assert KEY not in repr(error.body)



@pytest.mark.asyncio
@pytest.mark.parametrize("per_day", [500, None])
async def test_after_a_restart_the_stored_quota_answer_fails_fast_with_the_same_class(
    mock: respx.MockRouter, clock: FakeClock, tmp_path: Any, per_day: int | None
) -> None:
    route = mock.get(CHRONO).respond(403, json={"statusCode": 403, "message": QUOTA})
    path = tmp_path / "quota.json"
    stored = RateLimit(per_day=per_day, store=FileQuotaStore(path))
    async with make_client(clock, rate_limit=stored) as first:
        with pytest.raises(ServerQuotaExhausted):
            await first.smarther.get_status(PLANT, MODULE)
    clock.advance(60)
    limiter = RateLimit(per_day=per_day, store=FileQuotaStore(path))  # another process, later
    async with make_client(clock, rate_limit=limiter) as second:
        with pytest.raises(ServerQuotaExhausted) as info:
            await second.smarther.get_status(PLANT, MODULE)
    assert isinstance(info.value, Forbidden)
    assert info.value.status_code == 403
    assert info.value.attempts == 0
    assert info.value.resets_at == NOW + timedelta(hours=2)
    assert route.call_count == 1
