"""A sequence of limiters on one client (the app's pace, the user's day): a call goes through
each or through none; a 429 pauses the paced limiters, a 403 marks the daily ones."""

from __future__ import annotations

from typing import Any

import pytest

from legrand_async import LegrandClient, QuotaExhausted, RateLimit, RateLimits, ServerQuotaExhausted
from legrand_async.redis import RedisQuotaStore
from legrand_async.simulator import Simulator
from legrand_async.testing import FakeClock, signed_in_client

from .redis_server import new_key, r, redis_server

__all__ = ["r", "redis_server"]


def sim_and_clock(**limits: Any) -> tuple[Simulator, FakeClock]:
    clock = FakeClock()
    return Simulator.fleet(plants=1, thermostats_per_plant=1, clock=clock, **limits), clock


@pytest.mark.asyncio
async def test_a_call_goes_through_each_limiter_and_a_refusal_spends_nothing() -> None:
    sim, clock = sim_and_clock()
    app = RateLimit(per_second=2, per_day=None)
    user = RateLimit(per_day=3)
    async with signed_in_client(sim, rate_limit=(app, user)) as client:
        assert isinstance(client.rate_limit, RateLimits)
        for _ in range(3):
            await client.smarther.list_plants()
        with pytest.raises(QuotaExhausted):
            await client.smarther.list_plants()  # the user's day is spent: the app gives back
        assert app.snapshot().used_today == 3
        assert user.snapshot().used_today == 3
        quota = client.quota
        assert quota is not None
        assert (quota.remaining_today, quota.per_day, quota.per_second) == (0, 3, 2)
    assert sim.calls_today == 3
    assert clock.sleeps == [1.0]  # the third call waited for the app's pace


@pytest.mark.asyncio
async def test_a_refusal_by_a_later_limiter_gives_back_the_earlier_count() -> None:
    sim, _ = sim_and_clock()
    user = RateLimit(per_day=10)
    app = RateLimit(per_second=1, per_day=None, max_wait=0)
    async with signed_in_client(sim, rate_limit=[user, app]) as client:
        await client.smarther.list_plants()
        with pytest.raises(QuotaExhausted):
            await client.smarther.list_plants()  # the app would wait: refused at once
        assert user.snapshot().used_today == 1  # given back
    assert sim.calls_today == 1


@pytest.mark.asyncio
async def test_a_429_pauses_the_paced_limiter_and_a_403_marks_the_daily_one() -> None:
    sim, _ = sim_and_clock(per_second=1, per_day=2)
    app = RateLimit(per_second=5, per_day=None)  # faster than the gateway: it answers 429
    user = RateLimit(per_day=100)
    async with signed_in_client(sim, rate_limit=(app, user)) as client:
        await client.smarther.list_plants()
        await client.smarther.list_plants()  # 429, paused, retried a second later
        assert client.stats.statuses[429] == 1
        with pytest.raises(ServerQuotaExhausted):
            await client.smarther.list_plants()  # the gateway's day is spent: 403
        assert user.snapshot().remaining_today == 0
        assert app.snapshot().remaining_today is None
        with pytest.raises(ServerQuotaExhausted):
            await client.smarther.list_plants()  # refused by the user's limiter, not sent


def test_the_sequence_is_checked() -> None:
    with pytest.raises(TypeError, match="sequence"):
        LegrandClient("k", rate_limit=[RateLimit(), object()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one"):
        LegrandClient("k", rate_limit=[])
    one = RateLimit()
    assert LegrandClient("k", rate_limit=[one]).rate_limit is one


@pytest.mark.asyncio
async def test_on_redis_a_refused_call_gives_its_pace_slot_back(r: Any) -> None:
    app_key, user_key = new_key(), new_key()
    app = RateLimit(per_second=10, per_day=None, store=RedisQuotaStore(r, app_key))
    user = RateLimit(per_day=1, store=RedisQuotaStore(r, user_key))
    limits = RateLimits([app, user])
    await limits.acquire()
    before = await r.hget(app_key, "tat")
    with pytest.raises(QuotaExhausted):
        await limits.acquire()
    assert await r.hget(app_key, "tat") == before  # the pace slot the refused call took is back
    assert int(await r.hget(user_key, "sum")) == 1


@pytest.mark.asyncio
async def test_on_redis_a_refused_call_gives_its_count_back_at_once(r: Any) -> None:
    user_key = new_key()
    user = RateLimit(per_day=10, store=RedisQuotaStore(r, user_key))
    app = RateLimit(per_second=1, per_day=None, max_wait=0)
    limits = RateLimits([user, app])
    await limits.acquire()
    with pytest.raises(QuotaExhausted):
        await limits.acquire()  # the app refuses: the user's second call is given back
    assert int(await r.hget(user_key, "sum")) == 1
    assert user.snapshot().used_today == 1
    await user.acquire()  # the count it heard (2) does not bring the given-back call back
    assert int(await r.hget(user_key, "sum")) == 2
