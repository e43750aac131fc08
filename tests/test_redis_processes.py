"""Real processes on one RedisQuotaStore key, against the simulator on a loopback port, with a
real redis-server: the daily quota is never overspent, no second goes over the pace, and a
Redis restarted mid-run behaves as documented (calls fail fast meanwhile, the count is exact
again once every process has called)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from legrand_async.simulator import Simulator

from .redis_processes import arrivals, busiest_second, run_all
from .redis_server import RedisServer, new_key, own_redis_server, redis_server

__all__ = ["own_redis_server", "redis_server"]


@pytest.mark.asyncio
async def test_four_processes_spend_one_daily_quota_exactly(redis_server: RedisServer) -> None:
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1)  # no limit of its own: we count
    seen = arrivals(sim)
    spec = {"per_second": None, "per_day": 300, "tasks": 25, "calls": 4}  # 400 asked
    async with sim.serve() as base:
        tallies = await run_all(sim, base, redis_server.url, new_key(), spec, processes=4)
    assert sum(t["ok"] for t in tallies) == 300
    assert sum(t["exhausted"] for t in tallies) == 100
    assert sum(t["other"] + t["unavailable"] for t in tallies) == 0
    assert len(seen) == sim.calls_today == 300  # exactly 300 reached the gateway


@pytest.mark.asyncio
async def test_three_processes_at_five_a_second_never_exceed_it(
    redis_server: RedisServer,
) -> None:
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, per_second=5)
    seen = arrivals(sim)
    spec = {"per_second": 5, "per_day": None, "tasks": 3, "calls": 2}  # 18 calls: ~3.4 s
    async with sim.serve() as base:
        tallies = await run_all(sim, base, redis_server.url, new_key(), spec, processes=3)
    assert sum(t["ok"] for t in tallies) == 18
    assert [status for _, status in seen].count(429) == 0
    assert busiest_second(seen) <= 5
    assert seen[-1][0] - seen[0][0] >= 17 / 5 - 0.05  # paced, not merely lucky


@pytest.mark.asyncio
async def test_redis_restarted_mid_run(own_redis_server: RedisServer) -> None:
    """Calls fail fast with QuotaStoreUnavailable while Redis is down (none is sent); after
    the restart (no persistence: the data is gone) the processes bring their counts back and
    the count is exact again once each has called."""
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1)
    key = new_key()
    spec = {"per_second": None, "per_day": 10_000, "tasks": 2, "calls": 60, "pause": 0.02}
    spec["timeout"] = 0.5

    async def restart() -> None:
        await asyncio.sleep(0.5)
        own_redis_server.stop()
        await asyncio.sleep(0.4)
        own_redis_server.start()

    async with sim.serve() as base:
        tallies = await run_all(
            sim, base, own_redis_server.url, key, spec, processes=2, during=restart
        )
    assert sum(t["other"] for t in tallies) == 0
    assert sum(t["unavailable"] for t in tallies) > 0
    sent = sum(t["ok"] for t in tallies)
    assert sim.calls_today == sent  # nothing refused was sent
    r = redis.Redis.from_url(own_redis_server.url)
    try:
        record = await r.hgetall(key)
    finally:
        await r.aclose()
    assert int(record[b"sum"]) == sent  # every process's own calls, calls before the restart too
