"""RedisTokenStore: real processes on one login in a real redis-server refresh once per expiry
at the simulator's OAuth server (served on a loopback port), and a lock holder killed in the
middle of its refresh is replaced once its lock times out."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio as redis

import legrand_async
from legrand_async import LegrandClient, OAuth2Auth, OAuthApp, TokenStoreError
from legrand_async.redis import RedisTokenStore
from legrand_async.simulator import Simulator

from ._auth_sim import expired_login
from .redis_server import RedisServer, free_port, new_key, r, redis_server
from .test_auth_processes import (
    check_refreshed_once,
    held_first_token_call,
    run_together,
    slow_token_endpoint,
)

__all__ = ["r", "redis_server"]

CHILD = r"""
import asyncio, hashlib, sys
import redis.asyncio as redis
from legrand_async import LegrandClient, OAuth2Auth, OAuthApp
from legrand_async.redis import RedisTokenStore

base, key, client_id, secret, redirect, url, token_key, lock_timeout = sys.argv[1:9]


async def main() -> None:
    r = redis.Redis.from_url(url)
    app = OAuthApp(client_id, secret, redirect, auth_url=base)
    store = RedisTokenStore(r, token_key, lock_timeout=float(lock_timeout))
    auth = OAuth2Auth(app, store)
    async with LegrandClient(key, auth=auth, base_url=base, rate_limit=None) as client:
        print("ready", flush=True)
        sys.stdin.readline()  # all processes start at once
        plants = await client.smarther.list_plants()
        token = await auth.token()
    await r.aclose()
    digest = hashlib.sha256(token.access_token.encode()).hexdigest()[:16]
    print("ok", len(plants), digest, flush=True)


asyncio.run(main())
"""


async def start_child(
    sim: Simulator, base: str, url: str, key: str, lock_timeout: float = 60.0
) -> asyncio.subprocess.Process:
    here = str(Path(legrand_async.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    args = (base, sim.subscription_key, sim.client_id, sim.client_secret, sim.redirect_uri)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        *args,
        url,
        key,
        str(lock_timeout),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def ready(child: asyncio.subprocess.Process) -> None:
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    assert line.strip() == b"ready", line


@pytest.mark.asyncio
async def test_three_processes_on_one_expired_token_refresh_once(
    redis_server: RedisServer, r: Any
) -> None:
    sim = Simulator.fleet(plants=2, thermostats_per_plant=1)
    token_calls = slow_token_endpoint(sim, 0.3)
    key = new_key("legrand:token")
    login = expired_login(sim)
    await RedisTokenStore(r, key).save(login)
    async with sim.serve() as base:
        children = [await start_child(sim, base, redis_server.url, key) for _ in range(3)]
        outputs = await run_together(children)
    check_refreshed_once(children, outputs, login, await RedisTokenStore(r, key).load(), sim)
    assert token_calls == ["POST"]  # one refresh for the three processes
    assert await r.exists(f"{key}:lock") == 0  # let go


@pytest.mark.asyncio
async def test_a_lock_holder_killed_mid_refresh_is_replaced_after_the_lock_timeout(
    redis_server: RedisServer, r: Any
) -> None:
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1)
    arrived, release = held_first_token_call(sim)
    key = new_key("legrand:token")
    await RedisTokenStore(r, key).save(expired_login(sim))
    lock_timeout = 1.5
    async with sim.serve() as base:
        child = await start_child(sim, base, redis_server.url, key, lock_timeout)
        try:
            await ready(child)
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            await asyncio.wait_for(arrived.wait(), 60)  # it holds the lock, its refresh is out
        finally:
            child.kill()
            await child.wait()
            release.set()
        assert await r.exists(f"{key}:lock") == 1  # the dead holder's lock is still there
        app = OAuthApp(sim.client_id, sim.client_secret, sim.redirect_uri, auth_url=base)
        auth = OAuth2Auth(app, RedisTokenStore(r, key, lock_timeout=lock_timeout))
        started = anyio.current_time()
        async with LegrandClient(
            sim.subscription_key, auth=auth, base_url=base, rate_limit=None
        ) as client:
            with anyio.fail_after(10):
                assert len(await client.smarther.list_plants()) == 1
        waited = anyio.current_time() - started
    assert 0.2 < waited < lock_timeout + 2  # it waited for the lock to time out, no longer
    stored = await RedisTokenStore(r, key).load()
    assert stored is not None
    assert stored.refresh_token in sim.app.refresh  # the login survived


@pytest.mark.asyncio
async def test_a_lock_is_only_let_go_by_its_holder(r: Any) -> None:
    store = RedisTokenStore(r, new_key("legrand:token"), lock_timeout=5)
    async with store.lock(1.0):
        with pytest.raises(TimeoutError):
            async with store.lock(0.1):
                pass  # pragma: no cover
        await r.set(store.lock_key, "someone-else")  # it timed out, another took it
    assert await r.get(store.lock_key) == b"someone-else"  # not deleted by the old holder


@pytest.mark.asyncio
async def test_a_broken_value_is_a_token_store_error(r: Any) -> None:
    store = RedisTokenStore(r, new_key("legrand:token"))
    assert await store.load() is None
    await r.set(store.key, b"{not json")
    with pytest.raises(TokenStoreError) as caught:
        await store.load()
    assert "not json" not in str(caught.value)
    assert repr(store) == f"RedisTokenStore(key={store.key!r})"


@pytest.mark.asyncio
async def test_an_unreachable_redis_refreshes_unlocked() -> None:
    down = redis.Redis(port=free_port())
    try:
        store = RedisTokenStore(down, "k", timeout=0.5)
        async with store.lock(1.0):
            pass
        with pytest.raises((TimeoutError, redis.ConnectionError)):
            await store.load()
    finally:
        await down.aclose()
