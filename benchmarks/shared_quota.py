"""N processes through one Redis quota against the simulator's per-second limit.

This script starts a real ``redis-server`` on a free loopback port (no persistence) and serves
the simulator on another (uvicorn, ``Simulator.serve()``), with a per-second limit of
``--per-second`` (a 429 above it) and no daily quota of its own. ``--processes`` child
processes each run ``--tasks`` tasks calling ``list_plants`` through
``RateLimit(per_second=N, per_day=D, store=RedisQuotaStore(r, key))`` on one key, until their
calls raise ``QuotaExhausted``; ``D`` is ``--per-second`` times ``--seconds`` (the run lasts
about that long). Figures, counted on the simulator's side:

- achieved / limit: the calls let through, less one, over the time from the first to the last,
  leaving out the first second (a warm-up: each process opens its connection) when the run is
  long enough (aim >= 0.98; the limiter keeps 1.5 % of each interval free for the network's
  jitter, ``PACE_GUARD``, so 0.985 is the most it gives);
- 429s the simulator answered (aim 0);
- calls over the daily quota: calls let through beyond ``D`` (aim 0).

Then the limiter's cost per call, in this process, one task, ``--acquires`` acquires of a
limiter with no pace and a daily quota it never reaches: in memory, on Redis (one Lua round
trip on loopback) and on ``FileQuotaStore(path, shared=True)`` (a lock, a read and a write per
call), median microseconds and the ratio to memory, side by side.

The exit status is 1 when an aim is missed (or redis-server is missing: Debian's package).

Run: ``python benchmarks/shared_quota.py [--processes 3] [--tasks 4] [--per-second 10]
[--seconds 10] [--acquires 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("legrand_async") is None:
    sys.path.insert(0, str(ROOT))

import redis.asyncio as redis  # noqa: E402

from legrand_async import FileQuotaStore, RateLimit  # noqa: E402
from legrand_async.redis import RedisQuotaStore  # noqa: E402
from legrand_async.simulator import Simulator  # noqa: E402

#: The aims.
RATIO_AIM = 0.98

CHILD = r"""
import asyncio, json, sys
import redis.asyncio as redis
from legrand_async import LegrandClient, QuotaExhausted, RateLimit, RetryPolicy
from legrand_async.redis import RedisQuotaStore

base, key, token, url, quota_key, per_second, per_day, tasks = sys.argv[1:9]


async def main() -> None:
    r = redis.Redis.from_url(url)
    limit = RateLimit(per_second=float(per_second), per_day=int(per_day),
                      store=RedisQuotaStore(r, quota_key))
    tally = {"ok": 0, "exhausted": 0, "other": 0}
    async with LegrandClient(key, access_token=token, base_url=base, rate_limit=limit,
                             retry=RetryPolicy(max_attempts=1)) as client:
        async def task() -> None:
            while True:
                try:
                    await client.smarther.list_plants()
                    tally["ok"] += 1
                except QuotaExhausted:
                    tally["exhausted"] += 1
                    return
                except Exception:
                    tally["other"] += 1

        print("ready", flush=True)
        sys.stdin.readline()
        await asyncio.gather(*(task() for _ in range(int(tasks))))
    await r.aclose()
    print(json.dumps(tally), flush=True)


asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("MISSED: redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("MISSED: redis-server did not start")


def record_arrivals(sim: Simulator) -> list[tuple[float, int]]:
    seen: list[tuple[float, int]] = []
    inner = sim.app.asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        arrived = time.monotonic()

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["type"] == "http":
                seen.append((arrived, message["status"]))
            await send(message)

        await inner(scope, receive, sending)

    sim.app.asgi = app  # type: ignore[assignment]
    return seen


async def fleet(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Run the processes; the simulator's figures."""
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, per_second=args.per_second)
    seen = record_arrivals(sim)
    per_day = int(args.per_second * args.seconds)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    async with sim.serve() as base:
        token = sim.access_token()
        quota_key = f"legrand:bench:{os.getpid()}"
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHILD,
                base,
                sim.subscription_key,
                token,
                url,
                quota_key,
                str(args.per_second),
                str(per_day),
                str(args.tasks),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            for _ in range(args.processes)
        ]
        try:
            for child in children:
                assert child.stdout is not None
                line = await asyncio.wait_for(child.stdout.readline(), 60)
                assert line.strip() == b"ready", line
            outputs = await asyncio.wait_for(
                asyncio.gather(*(child.communicate(b"go\n") for child in children)),
                args.seconds * 3 + 60,
            )
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
    tallies = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    let_through = sorted(t for t, status in seen if status == 200)
    # The first second is a warm-up (each process opens its connection): left out when the
    # run is long enough.
    steady = (
        let_through[int(args.per_second) :]
        if len(let_through) > 3 * args.per_second
        else let_through
    )
    span = steady[-1] - steady[0] if len(steady) > 1 else 0.0
    achieved = (len(steady) - 1) / span if span > 0 else 0.0
    return {
        "per_day": per_day,
        "calls": len(let_through),
        "tallies": tallies,
        "ratio": achieved / args.per_second,
        "achieved": achieved,
        "429s": sum(1 for _, status in seen if status == 429),
        "over": max(0, len(let_through) - per_day),
    }


async def acquire_cost(url: str, acquires: int) -> dict[str, float]:
    """Median µs of one acquire: in memory, on Redis, on a shared file."""
    r = redis.Redis.from_url(url)
    directory = tempfile.mkdtemp(prefix="legrand-bench-")
    limits: dict[str, Callable[[], RateLimit]] = {
        "memory": lambda: RateLimit(per_day=10**6),
        "redis": lambda: RateLimit(
            per_day=10**6, store=RedisQuotaStore(r, f"legrand:bench:cost:{os.getpid()}")
        ),
        "shared file": lambda: RateLimit(
            per_day=10**6, store=FileQuotaStore(Path(directory) / "quota.json", shared=True)
        ),
    }
    medians = {}
    try:
        for name, make in limits.items():
            limit = make()
            medians[name] = await _median(limit.acquire, acquires)
    finally:
        await r.aclose()
        shutil.rmtree(directory, ignore_errors=True)
    return medians


async def _median(step: Callable[[], Awaitable[None]], count: int) -> float:
    for _ in range(min(50, count)):
        await step()  # warm up (the script is loaded, the file made)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


async def run(args: argparse.Namespace) -> int:
    directory = tempfile.mkdtemp(prefix="legrand-redis-")
    process, url = start_redis(directory)
    try:
        figures = await fleet(args, url)
        costs = await acquire_cost(url, args.acquires)
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)
    refused = sum(t["exhausted"] for t in figures["tallies"])
    other = sum(t["other"] for t in figures["tallies"])
    print(f"processes:         {args.processes} x {args.tasks} tasks, one Redis key")
    print(f"limit:             {args.per_second:g}/s, {figures['per_day']} calls a day")
    print(
        f"calls let through: {figures['calls']} (refused by the limiter: {refused} tasks; "
        f"other errors: {other})"
    )
    print(
        f"achieved/limit:    {figures['ratio']:.4f} ({figures['achieved']:.2f}/s; "
        f"aim >= {RATIO_AIM})"
    )
    print(f"429s:              {figures['429s']} (aim 0)")
    print(f"over the day:      {figures['over']} (aim 0)")
    memory = costs["memory"]
    print(
        "acquire cost:      "
        + "   ".join(f"{name} {us:.1f} µs ({us / memory:.1f}x)" for name, us in costs.items())
    )
    missed = [
        name
        for name, bad in (
            ("achieved/limit", figures["ratio"] < RATIO_AIM),
            ("429s", figures["429s"] > 0),
            ("over the day", figures["over"] > 0),
            ("other errors", other > 0),
        )
        if bad
    ]
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        return 1
    print("all aims met")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--per-second", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--acquires", type=int, default=2000)
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
