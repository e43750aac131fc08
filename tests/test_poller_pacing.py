"""Pacing as a pure function of the budget, the clock and the targets; the poller's arguments."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.lowlevel
import pytest
import respx

from legrand_async import LegrandClient, Quota, RateLimit, RetryPolicy
from legrand_async._poller import DEFAULT_INTERVAL, Pace, pace
from legrand_async._poller._pacing import UNLIMITED

from .test_poller import Clock, respx_client

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def quota(
    remaining: int | None, per_day: int | None = 500, per_second: float | None = None
) -> Quota:
    used = 0 if remaining is None or per_day is None else per_day - remaining
    return Quota(used, remaining, MIDNIGHT, None, per_second, per_day)


def test_without_a_limiter_the_default_interval() -> None:
    assert pace(None, NOON, targets=4, explicit=None, reserve=0.2) == Pace(
        DEFAULT_INTERVAL, DEFAULT_INTERVAL / 4, 0.0, UNLIMITED
    )


def test_without_a_daily_quota_the_explicit_interval_floored_by_the_rate() -> None:
    assert pace(quota(None, None), NOON, targets=4, explicit=7, reserve=0.2).interval == 7
    fast = pace(quota(None, None, per_second=0.5), NOON, targets=4, explicit=7, reserve=0.2)
    assert fast.interval == 8  # 4 reads at one per 2 s
    assert fast.limited
    assert fast.fastest == 2


def test_the_budget_but_the_reserve_spread_to_the_reset() -> None:
    p = pace(quota(500), NOON, targets=100, explicit=None, reserve=0.2)
    assert p.interval == 12 * 3600 * 100 / 400
    assert p.affordable == 400
    assert p.per_read == 12 * 3600 / 400


def test_an_explicit_interval_is_a_floor_the_budget_stretches() -> None:
    assert pace(quota(500), NOON, targets=2, explicit=7, reserve=0.2).interval == 216.0
    assert pace(quota(500), NOON, targets=2, explicit=3600, reserve=0.2).interval == 3600


def test_nothing_affordable_once_only_the_reserve_is_left() -> None:
    p = pace(quota(100), NOON, targets=2, explicit=7, reserve=0.2)
    assert p.affordable == 0
    assert p.interval is None
    assert pace(quota(101), NOON, targets=2, explicit=7, reserve=0.2).affordable == 1


def test_the_reset_counts_as_an_hour_at_least() -> None:
    late = MIDNIGHT - timedelta(minutes=1)
    assert pace(quota(500), late, targets=4, explicit=None, reserve=0.2).interval == 36.0
    # A clock that jumped past the reset: still an hour, never a negative interval.
    jumped = MIDNIGHT + timedelta(hours=5)
    assert pace(quota(500), jumped, targets=4, explicit=None, reserve=0.2).interval == 36.0


def test_no_targets_no_interval() -> None:
    p = pace(quota(500), NOON, targets=0, explicit=None, reserve=0.2)
    assert p.interval is None
    assert p.affordable == 400


def test_pace_is_pure() -> None:
    q = quota(321, per_second=3)
    assert pace(q, NOON, targets=9, explicit=5, reserve=0.1) == pace(
        q, NOON, targets=9, explicit=5, reserve=0.1
    )


# --------------------------------------------------------------------------------------------
# Arguments: a clear error before any request
# --------------------------------------------------------------------------------------------

PLANT, MODULE = str(uuid.UUID(int=1, version=4)), str(uuid.UUID(int=2, version=4))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"concurrency": 2.5}, TypeError),
        ({"concurrency": "4"}, TypeError),
        ({"concurrency": 4.0}, TypeError),
        ({"concurrency": -1}, ValueError),
        ({"interval": "60"}, TypeError),
        ({"interval": True}, TypeError),
        ({"interval": math.nan}, ValueError),
        ({"interval": -math.inf}, ValueError),
        ({"reserve": math.nan}, ValueError),
        ({"reserve": "0.2"}, TypeError),
        ({"reserve": True}, TypeError),
        ({"reserve": None}, TypeError),
        ({"discovery_interval": math.inf}, ValueError),
        ({"discovery_interval": math.nan}, ValueError),
        ({"discovery_interval": "1"}, TypeError),
        ({"targets": "abc"}, TypeError),
        ({"targets": 5}, TypeError),
        ({"targets": [(PLANT,)]}, TypeError),
        ({"targets": [PLANT]}, TypeError),
        ({"targets": [(PLANT, "not-a-uuid")]}, ValueError),
        ({"targets": [("../x", MODULE)]}, ValueError),
        ({"targets": [(PLANT, None)]}, TypeError),
    ],
)
@pytest.mark.asyncio
async def test_bad_thermostat_poller_arguments_are_refused(
    mock: respx.MockRouter, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with respx_client(Clock()) as client:
        with pytest.raises(error):
            client.poll_thermostats(**kwargs)
    assert not mock.calls


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((None, [1]), {}, TypeError),
        (("fetch", [1]), {}, TypeError),
        ((None, None), {}, TypeError),
        ((..., [[1], [2]]), {}, TypeError),
        ((..., "ab"), {}, TypeError),
        ((..., []), {}, ValueError),
        ((..., [1]), {"key": "mode"}, TypeError),
        ((..., [1]), {"concurrency": 2.5}, TypeError),
        ((..., [1]), {"interval": math.inf}, ValueError),
    ],
)
@pytest.mark.asyncio
async def test_bad_poll_arguments_are_refused(
    mock: respx.MockRouter, args: tuple[Any, Any], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async def fetch(target: Any) -> Any:
        raise AssertionError("no read before the arguments are checked")  # pragma: no cover

    fetcher = fetch if args[0] is ... else args[0]
    async with respx_client(Clock()) as client:
        with pytest.raises(error):
            client.poll(fetcher, args[1], **kwargs)
    assert not mock.calls


@pytest.mark.asyncio
async def test_good_targets_in_any_shape_are_taken() -> None:
    async with respx_client(Clock()) as client:
        poller = client.poll_thermostats(
            [[PLANT, MODULE], (uuid.UUID(PLANT), uuid.UUID(MODULE)), ("bs_cloud_" + PLANT, MODULE)]
        )
    assert poller.targets == ((PLANT, MODULE),)
    assert poller.discovery is None


@pytest.mark.asyncio
@pytest.mark.parametrize(("attempts", "together"), [(1, 4), (2, 4), (4, 2), (10, 1)])
async def test_reads_at_once_keep_room_for_the_clients_own_retries(
    attempts: int, together: int
) -> None:
    # 10 calls left, no reserve, 4 at once at most: each read may cost max_attempts calls, so
    # as many start together as the calls left can pay for, by the client's retry policy.
    from .test_arguments import NoWire

    clock = Clock()
    in_flight, most = 0, 0

    async def fetch(target: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await anyio.lowlevel.checkpoint()
        in_flight -= 1
        return target

    async with LegrandClient(
        "key",
        access_token="token",
        transport=NoWire(),
        retry=RetryPolicy(max_attempts=attempts),
        rate_limit=RateLimit(per_day=10, clock=clock),
        clock=clock,
    ) as client, client.poll(fetch, range(8), reserve=0.0, concurrency=4) as poller:
        async for _ in poller:
            if poller.polls >= 8:
                break
    assert most == together


@pytest.mark.parametrize("per_day", [1, 5, 237, 500, 501, 999, 10**6])
def test_the_demo_counts_the_reserve_as_the_poller_does(per_day: int) -> None:
    from legrand_async.demo import RESERVE, _spendable

    start_of_day = quota(remaining=per_day, per_day=per_day)
    affordable = pace(start_of_day, NOON, targets=1, explicit=None, reserve=RESERVE).affordable
    assert _spendable(per_day) == max(affordable, 0)
