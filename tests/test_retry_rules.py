"""Retry rules as data, run on tenacity: per-status waits, a user predicate, tenacity strategies.

Also: tenacity is not involved on the success path, 2xx answers that are not JSON are retried
on idempotent routes like a dropped connection (JSON of the wrong shape is not), and the waits
go through the client's clock.
"""

from __future__ import annotations

import random
from typing import Any

import attrs
import httpx
import pytest
import respx
import tenacity
from tenacity.asyncio import AsyncRetrying

from legrand_async import (
    DEFAULT_STATUSES,
    Conflict,
    DeviceBusy,
    RequestTimeout,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from legrand_async._transport.classify import CLASSIFICATION, Kind

from .conftest import (
    CHRONO,
    HOOK,
    MODULE,
    PLANT,
    SUBSCRIBE,
    FakeClock,
    make_client,
    ok_status,
)


def error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": status, "message": f"error {status}"})


# --- the success path does not touch tenacity ------------------------------------------------


@pytest.mark.asyncio
async def test_tenacity_is_built_only_when_a_retry_is_needed(
    mock: respx.MockRouter, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[AsyncRetrying] = []
    real_copy = AsyncRetrying.copy

    def counting_copy(self: AsyncRetrying, *args: Any, **kwargs: Any) -> AsyncRetrying:
        copy = real_copy(self, *args, **kwargs)
        copies.append(copy)
        return copy

    monkeypatch.setattr(AsyncRetrying, "copy", counting_copy)
    mock.get(CHRONO).mock(side_effect=[ok_status() for _ in range(50)] + [error(503), ok_status()])
    async with make_client(clock) as client:
        for _ in range(50):
            await client.smarther.get_status(PLANT, MODULE)
        assert copies == []
        await client.smarther.get_status(PLANT, MODULE)
    assert len(copies) == 1
    assert copies[0].statistics["attempt_number"] == 2  # tenacity ran the retry
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_tenacity_sleeps_on_the_clients_clock(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).mock(side_effect=[error(503), error(500), ok_status()])
    async with make_client(clock) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps == [0.5, 1.0]


# --- Legrand's per-status waits --------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(8))
async def test_no_486_is_resent_sooner_than_10_seconds_by_default(
    mock: respx.MockRouter, clock: FakeClock, seed: int
) -> None:
    mock.post(CHRONO).mock(side_effect=[error(486)] * 4)
    async with make_client(clock, RetryPolicy(), rng=random.Random(seed)) as client:  # jitter on
        with pytest.raises(DeviceBusy):
            await client.smarther.set_status(PLANT, MODULE, _off())
    assert len(clock.sleeps) == 3
    assert all(sleep >= 10.0 for sleep in clock.sleeps)


@pytest.mark.asyncio
async def test_408_waits_a_few_seconds(mock: respx.MockRouter, clock: FakeClock) -> None:
    mock.get(CHRONO).mock(side_effect=[error(408)] * 4)
    async with make_client(clock, RetryPolicy(), rng=random.Random(1)) as client:
        with pytest.raises(RequestTimeout):
            await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps[:2] == [3.0, 3.0]  # backoff below the floor
    assert 3.0 <= clock.sleeps[2] <= 8.0


@pytest.mark.asyncio
async def test_a_server_wait_shorter_than_the_status_floor_is_raised_to_it(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    busy = httpx.Response(486, json={"message": "busy"}, headers={"Retry-After": "1"})
    mock.get(CHRONO).mock(side_effect=[busy, ok_status()])
    async with make_client(clock) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps == [10.0]


@pytest.mark.asyncio
async def test_statuses_are_data_add_one_change_a_wait_drop_one(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    statuses = {**DEFAULT_STATUSES, 409: 1.5, 486: 2.0}
    del statuses[503]
    policy = RetryPolicy(jitter=0, statuses=statuses)
    route = mock.post(SUBSCRIBE).mock(
        side_effect=[error(409), error(486), httpx.Response(201, json={"subscriptionId": "x"})]
    )
    async with make_client(clock, policy) as client:
        assert await client.smarther.subscribe(PLANT, HOOK) == "x"
        assert clock.sleeps == [1.5, 2.0]
        mock.get(CHRONO).mock(side_effect=[error(503)])
        with pytest.raises(ServerError):
            await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 3
    assert clock.sleeps == [1.5, 2.0]  # 503 is no longer retried


@pytest.mark.asyncio
async def test_a_floor_over_max_retry_after_is_not_slept(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(CHRONO).mock(side_effect=[error(486)])
    async with make_client(clock, RetryPolicy(max_retry_after=5)) as client:
        with pytest.raises(DeviceBusy) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 1
    assert clock.sleeps == []


# --- a user predicate ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_predicate_can_add_and_veto_retries(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    seen: list[tuple[str, object]] = []

    def retry_if(request: httpx.Request, outcome: httpx.Response | Exception) -> bool | None:
        seen.append((request.method, getattr(outcome, "status_code", type(outcome).__name__)))
        if isinstance(outcome, httpx.Response):
            if outcome.status_code == 409:
                return True  # retry a conflict
            if outcome.status_code == 503:
                return False  # never a 503
        return None

    policy = RetryPolicy(jitter=0, retry_if=retry_if)
    mock.post(SUBSCRIBE).mock(
        side_effect=[error(409), httpx.Response(201, json={"subscriptionId": "x"})]
    )
    mock.get(CHRONO).mock(side_effect=[httpx.ConnectError("no"), error(503)])
    async with make_client(clock, policy) as client:
        assert await client.smarther.subscribe(PLANT, HOOK) == "x"
        with pytest.raises(ServerError) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 2  # the connect error by the rules, then the veto
    assert seen == [("POST", 409), ("POST", 201), ("GET", "ConnectError"), ("GET", 503)]


@pytest.mark.asyncio
async def test_a_predicate_sees_the_classification(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    kinds: list[Kind] = []

    def retry_if(request: httpx.Request, outcome: httpx.Response | Exception) -> bool | None:
        if isinstance(outcome, httpx.Response):
            kinds.append(outcome.extensions[CLASSIFICATION].kind)
        return None

    mock.get(CHRONO).mock(side_effect=[httpx.Response(200, content=b"{"), ok_status()])
    async with make_client(clock, RetryPolicy(retry_if=retry_if)) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert kinds == [Kind.MALFORMED, Kind.OK]


# --- tenacity strategies ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_tenacity_wait_strategy_replaces_the_backoff(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    policy = RetryPolicy(jitter=0, wait=tenacity.wait_fixed(2) + tenacity.wait_incrementing(1, 1))
    mock.get(CHRONO).mock(side_effect=[error(503), error(503), error(486), ok_status()])
    async with make_client(clock, policy) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps == [3.0, 4.0, 10.0]  # the 486 floor still holds


@pytest.mark.asyncio
async def test_a_wait_strategy_that_says_nan_or_less_than_nothing_waits_nothing(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    waits = iter([float("nan"), -3.0])
    policy = RetryPolicy(jitter=0, max_attempts=3, wait=lambda state: next(waits))
    mock.get(CHRONO).mock(side_effect=[error(503), error(503), ok_status()])
    async with make_client(clock, policy) as client:
        await client.smarther.get_status(PLANT, MODULE)
    assert clock.sleeps == [0.0, 0.0]


@pytest.mark.asyncio
async def test_a_tenacity_stop_strategy_ends_retries_sooner(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    policy = RetryPolicy(jitter=0, max_attempts=10, stop=tenacity.stop_after_attempt(2))
    route = mock.get(CHRONO).mock(side_effect=[error(503)] * 10)
    async with make_client(clock, policy) as client:
        with pytest.raises(ServerError) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert info.value.attempts == 2
    assert route.call_count == 2


# --- 2xx answers that are not JSON -----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "broken",
    [b'{"chronothermostats": [{"fun', b"<html>proxy error</html>", b"\xff\xfe", b"[" * 50_000],
)
async def test_a_2xx_that_is_not_json_is_retried_on_idempotent_routes(
    mock: respx.MockRouter, clock: FakeClock, broken: bytes
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.Response(200, content=broken), ok_status()])
    async with make_client(clock) as client:
        status = await client.smarther.get_status(PLANT, MODULE)
        assert client.stats.retries == {"malformed": 1}
    assert status.module_id == MODULE
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_a_2xx_that_is_not_json_is_bounded_by_max_attempts(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.Response(200, content=b"{")] * 4)
    async with make_client(clock) as client:
        with pytest.raises(ResponseValidationError, match="not JSON"):
            await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 4


@pytest.mark.asyncio
async def test_a_2xx_that_is_not_json_is_not_resent_on_other_routes(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(SUBSCRIBE).mock(side_effect=[httpx.Response(201, content=b'{"subscr')])
    async with make_client(clock) as client:
        with pytest.raises(ResponseValidationError):
            await client.smarther.subscribe(PLANT, HOOK)
    assert route.call_count == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "shape", [b"[]", b'{"plants": 3}', b'"text"', b'{"chronothermostats": []}']
)
async def test_valid_json_of_the_wrong_shape_is_not_retried(
    mock: respx.MockRouter, clock: FakeClock, shape: bytes
) -> None:
    route = mock.get(CHRONO).mock(side_effect=[httpx.Response(200, content=shape)])
    async with make_client(clock) as client:
        with pytest.raises(ResponseValidationError):
            await client.smarther.get_status(PLANT, MODULE)
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_a_route_without_a_response_body_ignores_it(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(CHRONO).mock(side_effect=[httpx.Response(200, content=b"OK, done")])
    async with make_client(clock) as client:
        assert await client.smarther.set_status(PLANT, MODULE, _off()) is None
    assert route.call_count == 1


# --- the policy is data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"statuses": {"486": 10}}, TypeError),
        ({"statuses": {99: 1}}, ValueError),
        ({"statuses": {486: -1}}, ValueError),
        ({"statuses": {486: float("nan")}}, ValueError),
        ({"statuses": {486: True}}, TypeError),
        ({"statuses": [486]}, TypeError),
        ({"retry_if": "yes"}, TypeError),
        ({"wait": 3}, TypeError),
        ({"stop": "never"}, TypeError),
        ({"max_retry_after": float("inf")}, ValueError),
        ({"max_retry_after": 1e300}, ValueError),
        ({"max_delay": float("inf")}, ValueError),
        ({"initial_delay": 1e10}, ValueError),
    ],
)
def test_new_fields_are_checked(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)


def test_a_policy_with_statuses_is_frozen_hashable_and_compares_by_value() -> None:
    one = RetryPolicy(statuses={486: 10, 503: 0})
    two = RetryPolicy(statuses={503: 0.0, 486: 10.0})
    assert one == two
    assert hash(one) == hash(two)
    assert one != RetryPolicy()
    with pytest.raises(TypeError):
        one.statuses[500] = 1.0  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        one.statuses = {}  # type: ignore[misc]


@pytest.mark.asyncio
async def test_retried_409_is_still_a_conflict_when_attempts_run_out(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    policy = RetryPolicy(jitter=0, max_attempts=2, statuses={409: 0})
    mock.post(SUBSCRIBE).mock(side_effect=[error(409), error(409)])
    async with make_client(clock, policy) as client:
        with pytest.raises(Conflict) as info:
            await client.smarther.subscribe(PLANT, HOOK)
    assert info.value.attempts == 2


def _off() -> Any:
    from legrand_async import SetStatus

    return SetStatus.off()
