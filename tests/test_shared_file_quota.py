"""FileQuotaStore(path, shared=True): the Redis store's decisions in a locked file, exact across
processes on one host; the same decisions as the Redis script."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from legrand_async import FileQuotaStore, QuotaExhausted, RateLimit, ServerQuotaExhausted
from legrand_async._transport.deciding import Ask, DecidingQuotaStore
from legrand_async._transport.file_decider import SharedFileQuotaStore, decide
from legrand_async.redis import RedisQuotaStore
from legrand_async.simulator import Simulator

from .conftest import FakeClock
from .redis_processes import arrivals, run_all
from .redis_server import RedisServer, new_key, r, redis_server
from .test_redis_quota import NOON

__all__ = ["r", "redis_server"]


def test_shared_true_makes_a_deciding_store(tmp_path: Path) -> None:
    store = FileQuotaStore(tmp_path / "q.json", shared=True, timeout=1.0)
    assert isinstance(store, SharedFileQuotaStore)
    assert isinstance(store, DecidingQuotaStore)
    assert store.timeout == 1.0
    assert not isinstance(FileQuotaStore(tmp_path / "p.json"), DecidingQuotaStore)
    assert repr(store) == f"FileQuotaStore({str(tmp_path / 'q.json')!r}, shared=True)"
    with pytest.raises(TypeError, match="shared=True"):
        FileQuotaStore(tmp_path / "p.json", timeout=1.0)


@pytest.mark.asyncio
async def test_limiters_on_one_file_share_the_day_and_the_403(tmp_path: Path) -> None:
    clock = FakeClock(NOON)
    path = tmp_path / "quota.json"
    limits = [
        RateLimit(per_day=5, store=FileQuotaStore(path, shared=True), clock=clock)
        for _ in range(2)
    ]
    for i in range(5):
        await limits[i % 2].acquire()
    with pytest.raises(QuotaExhausted):
        await limits[1].acquire()
    clock.advance(12 * 3600)
    await limits[0].acquire()
    limits[0].exhaust(clock.now() + timedelta(hours=1))
    await limits[0].flush()
    with pytest.raises(ServerQuotaExhausted):
        await limits[1].acquire()
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.asyncio
async def test_the_file_decides_as_the_redis_script_does(tmp_path: Path, r: Any) -> None:
    """The same asks, in the same order, to the Lua script and to the Python decision."""
    rng = random.Random(7)
    key, record = new_key(), {}
    store = RedisQuotaStore(r, key)
    writers = ["a", "b", "c"]
    own = dict.fromkeys(writers, 0)
    for step in range(200):
        writer = rng.choice(writers)
        day = NOON.replace(hour=0) + timedelta(days=step // 80)
        ask = Ask(
            writer=writer,
            own=max(0, own[writer] - (1 if rng.random() < 0.1 else 0)),  # a lost answer
            day=day,
            day_end=day + timedelta(days=1),
            now=day + timedelta(hours=12),
            per_day=rng.choice([None, 40]),
            interval=0.0,
            floor=rng.choice([0, 0, 0, 5, 30]),
            take=rng.random() < 0.9,
        )
        if step == 120:
            await r.delete(key)
            record = {}  # both lose their data
        theirs = await store.decide(ask)
        record, ours = decide(record, ask, 0)
        assert ours == theirs, step
        if ours.verdict.value == "granted":
            own[writer] = ask.own + 1
        else:
            own[writer] = ask.own


@pytest.mark.asyncio
async def test_four_processes_on_one_file_spend_one_daily_quota_exactly(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1)
    seen = arrivals(sim)
    spec = {"per_second": None, "per_day": 300, "tasks": 25, "calls": 4}
    async with sim.serve() as base:
        quota = f"file:{tmp_path / 'quota.json'}"
        tallies = await run_all(sim, base, redis_server.url, quota, spec, processes=4)
    assert sum(t["ok"] for t in tallies) == 300
    assert sum(t["exhausted"] for t in tallies) == 100
    assert len(seen) == sim.calls_today == 300
