"""Real processes of the user's, each with its own client, limiter and token store on one Redis,
against the simulator served on a loopback port (for the multi-process tests and benchmark)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import legrand_async
from legrand_async.simulator import Simulator

#: One process: ``tasks`` tasks each making ``calls`` calls (list_plants), ``pause`` seconds
#: apart, through RateLimit(per_second, per_day) on RedisQuotaStore(quota_key) (or a shared
#: FileQuotaStore when quota_key starts with "file:"); prints a JSON tally of the outcomes.
CHILD = r"""
import asyncio, json, sys, time
import redis.asyncio as redis
from legrand_async import FileQuotaStore, LegrandClient, QuotaExhausted, RateLimit, RetryPolicy
from legrand_async import QuotaStoreUnavailable
from legrand_async.redis import RedisQuotaStore

base, key, token, url, quota_key, spec = sys.argv[1:7]
spec = json.loads(spec)


async def main() -> None:
    r = redis.Redis.from_url(url)
    if quota_key.startswith("file:"):
        store = FileQuotaStore(quota_key[5:], shared=True)
    else:
        store = RedisQuotaStore(r, quota_key, timeout=spec.get("timeout", 2.0))
    limit = RateLimit(per_second=spec["per_second"], per_day=spec["per_day"], store=store,
                      max_wait=spec.get("max_wait", 60.0))
    tally = {"ok": 0, "exhausted": 0, "unavailable": 0, "other": 0}
    retry = RetryPolicy(max_attempts=1)
    async with LegrandClient(key, access_token=token, base_url=base, rate_limit=limit,
                             retry=retry) as client:
        async def task() -> None:
            for _ in range(spec["calls"]):
                try:
                    await client.smarther.list_plants()
                    tally["ok"] += 1
                except QuotaExhausted:
                    tally["exhausted"] += 1
                except QuotaStoreUnavailable:
                    tally["unavailable"] += 1
                except Exception as exc:
                    tally["other"] += 1
                    print("error", type(exc).__name__, exc, file=sys.stderr, flush=True)
                if spec.get("pause"):
                    await asyncio.sleep(spec["pause"])

        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        await asyncio.gather(*(task() for _ in range(spec["tasks"])))
        tally["seconds"] = time.perf_counter() - started
    await r.aclose()
    print(json.dumps(tally), flush=True)


asyncio.run(main())
"""


def arrivals(sim: Simulator) -> list[tuple[float, int]]:
    """Make the served app record (server time, status) of every API request it answers."""
    seen: list[tuple[float, int]] = []
    inner = sim.app.asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in ("/token", "/authorize"):
            await inner(scope, receive, send)
            return
        arrived = time.monotonic()

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen.append((arrived, message["status"]))
            await send(message)

        await inner(scope, receive, sending)

    sim.app.asgi = app  # type: ignore[assignment]
    return seen


def busiest_second(seen: Sequence[tuple[float, int]]) -> int:
    """The most requests that arrived within one second of the server's clock."""
    return max(Counter(int(t) for t, _ in seen).values(), default=0)


async def start(
    sim: Simulator, base: str, token: str, url: str, quota_key: str, spec: dict[str, Any]
) -> asyncio.subprocess.Process:
    here = str(Path(legrand_async.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        base,
        sim.subscription_key,
        token,
        url,
        quota_key,
        json.dumps(spec),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def run_all(
    sim: Simulator,
    base: str,
    url: str,
    quota_key: str,
    spec: dict[str, Any],
    processes: int,
    *,
    during: Any = None,
) -> list[dict[str, Any]]:
    """Start ``processes`` children, let them go at once, ``await during()`` meanwhile; their
    tallies (a child that fails raises AssertionError with its stderr)."""
    token = sim.access_token()
    children = [await start(sim, base, token, url, quota_key, spec) for _ in range(processes)]
    try:
        for child in children:
            assert child.stdout is not None
            ready = await asyncio.wait_for(child.stdout.readline(), 60)
            assert ready.strip() == b"ready", ready
        runs = [asyncio.ensure_future(child.communicate(b"go\n")) for child in children]
        if during is not None:
            await during()
        outputs = await asyncio.wait_for(asyncio.gather(*runs), 120)
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    tallies = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode()[-3000:]
        tallies.append(json.loads(out.decode().strip().splitlines()[-1]))
    return tallies
