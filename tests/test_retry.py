"""Retry behaviour through the public client: statuses, Retry-After, network errors, jitter.

Every sleep goes through the fake clock, so the tests assert the exact list of delays and never
wait for real.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import attrs
import httpx
import pytest
import respx

from legrand_async import (
    DEFAULT_STATUSES,
    AppPasswordExpired,
    BadRequest,
    Conflict,
    DeviceBusy,
    Forbidden,
    LegrandClient,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RetryPolicy,
    ServerError,
    SetStatus,
    TermsExpired,
    Unauthorized,
    WrongInput,
)
from legrand_async.errors import APIError, TransportError

from .conftest import (
    BASE,
    CHRONO,
    HOOK,
    KEY,
    MODULE,
    PLANT,
    SUBSCRIBE,
    SUBSCRIPTION,
    TOKEN,
    FakeClock,
    make_client,
    ok_status,
)


def ok_subscribe() -> httpx.Response:
    return httpx.Response(201, json={"subscriptionId": SUBSCRIPTION})


def error(status: int, message: str | None = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(
        status, json={"statusCode": status, "message": message or f"error {status}"}, **kwargs
    )


# --- statuses that are retried -------------------------------------------------------------


@pytest.mark.asyncio
async def test_device_busy_twice_then_success(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(486), error(486), ok_status()])
    status = await client.smarther.get_status(PLANT, MODULE)
    assert status is not None
    assert route.call_count == 3
    # Legrand's error table: "wait about 10 seconds and try to send your request again".
    assert clock.sleeps == [10.0, 10.0]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "wait"),
    [(408, 3.0), (500, 0.5), (502, 0.5), (503, 0.5), (504, 0.5), (486, 10.0), (429, 0.5)],
)
async def test_retryable_status_then_success(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock, code: int, wait: float
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(code), ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [wait]


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [408, 429, 486, 500, 502, 503, 504])
async def test_retryable_status_retried_on_non_idempotent_route(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock, code: int
) -> None:
    # A status answer means the server saw the request and refused it: safe to retry anywhere.
    route = mock.post(SUBSCRIBE).mock(side_effect=[error(code), ok_subscribe()])
    assert await client.smarther.subscribe(PLANT, HOOK) == SUBSCRIPTION
    assert route.call_count == 2
    assert clock.sleeps == [DEFAULT_STATUSES[code] or 0.5]


@pytest.mark.asyncio
async def test_set_status_retried_after_busy(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(CHRONO).mock(side_effect=[error(486), httpx.Response(200)])
    assert await client.smarther.set_status(PLANT, MODULE, SetStatus.manual(21)) is None
    assert route.call_count == 2
    assert clock.sleeps == [10.0]
    # The body is sent again, unchanged.
    first, second = (call.request for call in route.calls)
    assert first.content == second.content
    assert b'"setPoint"' in first.content


@pytest.mark.asyncio
async def test_server_error_exhausts_attempts(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 5)
    with pytest.raises(ServerError) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert info.value.status_code == 503
    assert info.value.message == "error 503"
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_device_busy_exhausts_attempts(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(486)] * 4)
    with pytest.raises(DeviceBusy) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert info.value.retry_after is None
    assert route.call_count == 4
    assert clock.sleeps == [10.0, 10.0, 10.0]


@pytest.mark.asyncio
async def test_last_response_is_the_one_mapped(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503), error(486), error(500), error(502)])
    with pytest.raises(ServerError) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.status_code == 502
    assert info.value.message == "error 502"
    assert info.value.attempts == 4
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 10.0, 2.0]


@pytest.mark.asyncio
async def test_backoff_capped_at_max_delay(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 6 + [ok_status()])
    async with make_client(clock, RetryPolicy(max_attempts=7, jitter=0, max_delay=3.0)) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 7
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.asyncio
async def test_default_max_delay_reached(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 7)
    async with make_client(clock, RetryPolicy(max_attempts=7, jitter=0)) as c:
        with pytest.raises(ServerError) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 7
    assert route.call_count == 7
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


@pytest.mark.asyncio
async def test_single_attempt_never_retries(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503), ok_status()])
    async with make_client(clock, RetryPolicy(max_attempts=1, jitter=0)) as c:
        with pytest.raises(ServerError) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 1
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_custom_initial_delay(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 3 + [ok_status()])
    async with make_client(clock, RetryPolicy(initial_delay=0.1, jitter=0)) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 4
    assert clock.sleeps == [0.1, 0.2, 0.4]


@pytest.mark.asyncio
async def test_zero_delays(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 3 + [ok_status()])
    policy = RetryPolicy(initial_delay=0, max_delay=0)  # default jitter: 0 * anything is 0
    async with make_client(clock, policy) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 4
    assert clock.sleeps == [0.0, 0.0, 0.0]


@pytest.mark.asyncio
async def test_zero_delays_with_network_errors(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.ConnectError] * 4)
    async with make_client(clock, RetryPolicy(initial_delay=0, max_delay=0, jitter=1)) as c:
        with pytest.raises(TransportError) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert route.call_count == 4
    assert clock.sleeps == [0.0, 0.0, 0.0]


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_retry_after_seconds(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": "7"}), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [7.0]


@pytest.mark.asyncio
async def test_retry_after_http_date(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    when = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": when}), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [30.0]


@pytest.mark.asyncio
async def test_retry_after_http_date_in_the_past_is_zero(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    when = format_datetime(clock.now() - timedelta(seconds=30), usegmt=True)
    route = mock.get(CHRONO).mock(
        side_effect=[error(503, headers={"Retry-After": when}), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [0.0]


@pytest.mark.asyncio
async def test_try_again_text_from_api_management(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    limited = httpx.Response(
        429,
        json={"statusCode": 429, "message": "Rate limit is exceeded. Try again in 12 seconds."},
    )
    route = mock.get(CHRONO).mock(side_effect=[limited, ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [12.0]


@pytest.mark.asyncio
async def test_retry_after_ms(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"retry-after-ms": "1500"}), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [1.5]


@pytest.mark.asyncio
async def test_retry_after_on_server_error_is_honoured(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(503, headers={"Retry-After": "3"}), error(503), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 3
    # The server's wait, then the backoff of the second retry.
    assert clock.sleeps == [3.0, 1.0]


@pytest.mark.asyncio
async def test_retry_after_longer_than_max_delay_is_still_honoured(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": "60"}), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [60.0]


@pytest.mark.asyncio
async def test_retry_after_equal_to_max_retry_after_is_slept(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": "120"}), ok_status()]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [120.0]


@pytest.mark.asyncio
async def test_retry_after_too_long_raises_at_once(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": "600"}), ok_status()]
    )
    with pytest.raises(RateLimited) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after == 600.0
    assert info.value.attempts == 1
    assert info.value.status_code == 429
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_try_again_text_too_long_raises_at_once(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    limited = error(429, "Rate limit is exceeded. Try again in 3600 seconds.")
    route = mock.get(CHRONO).mock(side_effect=[limited, ok_status()])
    with pytest.raises(RateLimited) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after == 3600.0
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_too_long_wait_after_a_retry(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(503), error(503, headers={"Retry-After": "121"}), ok_status()]
    )
    with pytest.raises(ServerError) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after == 121.0
    assert info.value.attempts == 2
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_custom_max_retry_after(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": "7"}), ok_status()]
    )
    async with make_client(clock, RetryPolicy(jitter=0, max_retry_after=5)) as c:
        with pytest.raises(RateLimited) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after == 7.0
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_rate_limited_exhausts_attempts(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(429, headers={"Retry-After": "2"})] * 4)
    with pytest.raises(RateLimited) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert info.value.retry_after == 2.0
    assert route.call_count == 4
    assert clock.sleeps == [2.0, 2.0, 2.0]


@pytest.mark.asyncio
async def test_rate_limited_without_wait_exhausts_attempts(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(429, "Too many requests")] * 4)
    with pytest.raises(RateLimited) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert info.value.retry_after is None
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


# --- statuses that are not retried -------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (430, WrongInput),
        (469, AppPasswordExpired),
        (470, TermsExpired),
        (501, ServerError),
        (505, ServerError),
    ],
)
async def test_not_retried(
    client: LegrandClient,
    mock: respx.MockRouter,
    clock: FakeClock,
    code: int,
    cls: type[APIError],
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(code), ok_status()])
    with pytest.raises(cls) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert type(info.value) is cls
    assert info.value.status_code == code
    assert info.value.attempts == 1
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "cls"),
    [(400, BadRequest), (409, Conflict), (430, WrongInput), (401, Unauthorized)],
)
async def test_not_retried_on_post(
    client: LegrandClient,
    mock: respx.MockRouter,
    clock: FakeClock,
    code: int,
    cls: type[APIError],
) -> None:
    route = mock.post(CHRONO).mock(side_effect=[error(code), httpx.Response(200)])
    with pytest.raises(cls):
        await client.smarther.set_status(PLANT, MODULE, SetStatus.manual(21))
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_not_retried_even_with_retry_after(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(400, headers={"Retry-After": "1"}), ok_status()]
    )
    with pytest.raises(BadRequest):
        await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_quota_exhausted_not_retried(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    quota = error(403, "Out of call volume quota. Quota will be replenished in 02:03:04.")
    route = mock.get(CHRONO).mock(side_effect=[quota, ok_status()])
    with pytest.raises(QuotaExhausted) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.resets_at == clock.now() + timedelta(hours=2, minutes=3, seconds=4)
    assert route.call_count == 1
    assert clock.sleeps == []


# --- network errors ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connect_error_retried_on_get(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.ConnectError("refused"), ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_connect_error_retried_on_subscribe(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    # Nothing reached the server: safe to retry even a non-idempotent route.
    route = mock.post(SUBSCRIBE).mock(side_effect=[httpx.ConnectError, ok_subscribe()])
    assert await client.smarther.subscribe(PLANT, HOOK) == SUBSCRIPTION
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
@pytest.mark.parametrize("exc", [httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_connect_timeout_retried_on_subscribe(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock, exc: type[Exception]
) -> None:
    route = mock.post(SUBSCRIBE).mock(side_effect=[exc, exc, ok_subscribe()])
    assert await client.smarther.subscribe(PLANT, HOOK) == SUBSCRIPTION
    assert route.call_count == 3
    assert clock.sleeps == [0.5, 1.0]


@pytest.mark.asyncio
async def test_connect_timeout_retried_on_get(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.ConnectTimeout, ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError]
)
async def test_maybe_sent_error_retried_on_idempotent_get(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock, exc: type[Exception]
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[exc, ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_read_timeout_retried_on_set_status(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    # set_status is a POST, but setting the same status twice is harmless: idempotent.
    route = mock.post(CHRONO).mock(side_effect=[httpx.ReadTimeout, httpx.Response(200)])
    assert await client.smarther.set_status(PLANT, MODULE, SetStatus.manual(21)) is None
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_read_timeout_retried_on_unsubscribe(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.delete(f"{SUBSCRIBE}/{SUBSCRIPTION}").mock(
        side_effect=[httpx.ReadTimeout, httpx.Response(200)]
    )
    await client.smarther.unsubscribe(PLANT, SUBSCRIPTION)
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError]
)
async def test_maybe_sent_error_not_retried_on_subscribe(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock, exc: type[Exception]
) -> None:
    route = mock.post(SUBSCRIBE).mock(side_effect=[exc, ok_subscribe()])
    with pytest.raises(TransportError) as info:
        await client.smarther.subscribe(PLANT, HOOK)
    assert info.value.attempts == 1
    assert isinstance(info.value.__cause__, exc)
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_read_timeout_on_subscribe_after_a_retry(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(SUBSCRIBE).mock(
        side_effect=[httpx.ConnectError, httpx.ReadTimeout, ok_subscribe()]
    )
    with pytest.raises(TransportError) as info:
        await client.smarther.subscribe(PLANT, HOOK)
    assert info.value.attempts == 2
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_connect_error_on_every_attempt(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.ConnectError("refused")] * 5)
    with pytest.raises(TransportError) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "4 attempt" in str(info.value)
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_network_errors_and_statuses_share_the_attempt_budget(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[httpx.ConnectError, error(503), httpx.ReadTimeout, error(486), ok_status()]
    )
    with pytest.raises(DeviceBusy) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_unknown_transport_error_not_retried(
    client: LegrandClient, mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.UnsupportedProtocol, ok_status()])
    with pytest.raises(TransportError) as info:
        await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 1
    assert isinstance(info.value.__cause__, httpx.UnsupportedProtocol)
    assert route.call_count == 1
    assert clock.sleeps == []


# --- jitter ------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", [0, 1, 42, 2026])
async def test_jitter_is_drawn_from_the_injected_rng(
    mock: respx.MockRouter, clock: FakeClock, seed: int
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 6 + [ok_status()])
    policy = RetryPolicy(max_attempts=7, jitter=0.25)
    async with make_client(clock, policy, rng=random.Random(seed)) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 7
    expected_rng = random.Random(seed)
    bases = [min(0.5 * 2**n, 8.0) for n in range(6)]
    expected = [base * (1 - 0.25 * expected_rng.random()) for base in bases]
    assert clock.sleeps == expected
    for sleep, base in zip(clock.sleeps, bases, strict=True):
        assert 0.75 * base <= sleep <= base


@pytest.mark.asyncio
async def test_jitter_applies_to_network_errors(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.ConnectError, httpx.ReadTimeout, ok_status()])
    async with make_client(clock, RetryPolicy(jitter=0.5), rng=random.Random(7)) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 3
    expected_rng = random.Random(7)
    assert clock.sleeps == [base * (1 - 0.5 * expected_rng.random()) for base in (0.5, 1.0)]


@pytest.mark.asyncio
async def test_server_wait_is_not_jittered(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(CHRONO).mock(
        side_effect=[error(429, headers={"Retry-After": "7"}), error(503), ok_status()]
    )
    async with make_client(clock, RetryPolicy(jitter=0.25), rng=random.Random(3)) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 3
    # The server's wait is exact and draws nothing; the next backoff takes the first draw.
    expected_rng = random.Random(3)
    assert clock.sleeps == [7.0, 1.0 * (1 - 0.25 * expected_rng.random())]


# --- discarded responses are closed ------------------------------------------------------------


class TrackingStream(httpx.AsyncByteStream):
    """A response body that records whether it was closed."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body

    async def aclose(self) -> None:
        self.closed = True


class ScriptedTransport(httpx.AsyncBaseTransport):
    """Answers each request with the next scripted response; checks earlier ones were closed."""

    def __init__(self, script: list[tuple[int, dict[str, str], bytes]]) -> None:
        self._script = list(script)
        self.streams: list[TrackingStream] = []
        self.open_at_next_request: list[int] = []
        self.closed_transport = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Every response handed out so far must be closed before the next attempt goes out.
        self.open_at_next_request.extend(
            i for i, stream in enumerate(self.streams) if not stream.closed
        )
        status, headers, body = self._script.pop(0)
        stream = TrackingStream(body)
        self.streams.append(stream)
        return httpx.Response(status, headers=headers, stream=stream, request=request)

    async def aclose(self) -> None:
        self.closed_transport = True


BUSY = (486, {"Content-Type": "application/json"}, b'{"statusCode":486,"message":"busy"}')
UNAVAILABLE = (503, {"Content-Type": "application/json"}, b'{"statusCode":503,"message":"down"}')


@pytest.mark.asyncio
async def test_discarded_responses_are_closed_before_retrying(clock: FakeClock) -> None:
    ok = (200, {"Content-Type": "application/json"}, ok_status().content)
    transport = ScriptedTransport([BUSY, UNAVAILABLE, ok])
    async with make_client(clock, transport=transport) as c:
        await c.smarther.get_status(PLANT, MODULE)
    assert len(transport.streams) == 3
    assert transport.open_at_next_request == []
    assert all(stream.closed for stream in transport.streams)
    assert clock.sleeps == [10.0, 1.0]
    assert transport.closed_transport


@pytest.mark.asyncio
async def test_responses_closed_when_attempts_run_out(clock: FakeClock) -> None:
    transport = ScriptedTransport([UNAVAILABLE] * 4)
    async with make_client(clock, transport=transport) as c:
        with pytest.raises(ServerError) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 4
    assert info.value.message == "down"
    assert len(transport.streams) == 4
    assert transport.open_at_next_request == []
    assert all(stream.closed for stream in transport.streams)


@pytest.mark.asyncio
async def test_response_closed_when_wait_is_too_long(clock: FakeClock) -> None:
    limited = (429, {"Retry-After": "600"}, b'{"statusCode":429,"message":"slow down"}')
    transport = ScriptedTransport([limited])
    async with make_client(clock, transport=transport) as c:
        with pytest.raises(RateLimited) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.retry_after == 600.0
    assert len(transport.streams) == 1
    assert transport.streams[0].closed
    assert clock.sleeps == []


# --- RetryPolicy -------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert attrs.asdict(policy) == {
        "max_attempts": 4,
        "initial_delay": 0.5,
        "max_delay": 8.0,
        "jitter": 0.25,
        "max_retry_after": 120.0,
        "statuses": DEFAULT_STATUSES,
        "retry_if": None,
        "wait": None,
        "stop": None,
    }
    assert dict(policy.statuses) == {
        408: 3.0, 429: 0.0, 486: 10.0, 500: 0.0, 502: 0.0, 503: 0.0, 504: 0.0
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"max_attempts": True},
        {"max_attempts": False},
        {"max_attempts": 2.0},
        {"max_attempts": "3"},
        {"initial_delay": -0.1},
        {"max_delay": -1},
        {"max_retry_after": -5},
        {"jitter": -0.01},
        {"jitter": 1.01},
        {"jitter": float("nan")},
        {"initial_delay": float("nan")},
    ],
)
def test_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 1},
        {"initial_delay": 0, "max_delay": 0, "max_retry_after": 0, "jitter": 0},
        {"jitter": 1},
    ],
)
def test_policy_edge_values_accepted(kwargs: dict[str, Any]) -> None:
    RetryPolicy(**kwargs)


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_attempts = 10  # type: ignore[misc]
    assert policy == RetryPolicy()
    assert hash(policy) == hash(RetryPolicy())


def test_client_rejects_a_non_policy() -> None:
    with pytest.raises(TypeError):
        LegrandClient(subscription_key=KEY, retry={"max_attempts": 2})  # type: ignore[arg-type]


# --- logging -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_each_retry_is_logged_without_secrets(
    client: LegrandClient,
    mock: respx.MockRouter,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get(CHRONO).mock(
        side_effect=[
            error(503),
            httpx.ConnectError("refused"),
            error(429, headers={"Retry-After": "7"}),
            ok_status(),
        ]
    )
    await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps == [0.5, 1.0, 7.0]
    retries = [
        r for r in caplog.records if r.name == "legrand_async" and r.levelno == logging.DEBUG
    ]
    assert len(retries) == 3
    for record in retries:
        assert "retr" in record.getMessage().lower()
    for record in caplog.records:
        text = record.getMessage()
        assert KEY not in text
        assert TOKEN not in text


@pytest.mark.asyncio
async def test_no_retry_log_without_retries(
    client: LegrandClient,
    mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="legrand_async")
    mock.get(CHRONO).mock(side_effect=[ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    assert [r for r in caplog.records if r.name == "legrand_async"] == []


@pytest.mark.asyncio
async def test_requests_carry_credentials_on_every_attempt(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[error(503), httpx.ConnectError, ok_status()])
    await client.smarther.get_status(PLANT, MODULE)
    for call in route.calls:
        assert call.request.headers["Ocp-Apim-Subscription-Key"] == KEY
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert str(call.request.url).startswith(BASE)


@pytest.mark.asyncio
async def test_many_attempts_do_not_overflow_the_backoff(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    # 2.0**1024 overflows a float: the exponent must be bounded before max_delay applies.
    route = mock.get(CHRONO).mock(side_effect=httpx.ConnectError)
    async with make_client(
        clock, RetryPolicy(max_attempts=1030, initial_delay=0, max_delay=0)
    ) as c:
        with pytest.raises(TransportError) as info:
            await c.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 1030
    assert route.call_count == 1030
    assert clock.sleeps == [0.0] * 1029
