"""How fresh a fleet's states reach the consumer, by strategy, over a simulated day.

The simulator runs ``--thermostats`` thermostats on ``--plants`` plants with a daily quota of
``--budget`` calls and ``--per-second`` calls a second; each thermostat's user turns its wheel
about ``--changes`` times a day, at times drawn from ``--seed`` (the same schedule for every
strategy), through the simulator's device API, which pushes each change to the plant's C2C
subscribers after ``--latency`` seconds. Everything runs on a fake clock (``StepClock``): a day
takes seconds, nothing waits.

Staleness is the time from a change at the device to a state with that setpoint reaching the
consumer (a change overtaken by a later one counts until that later one arrives; one never seen
counts until the end of the day). For each strategy: p50, p99 and max staleness, the calls the
gateway let through, and the 429 and 403 answers the client got. Strategies:

- ``poll only``: ``client.poll_thermostats()``, the budget-paced poller;
- ``push first``: ``client.watch_thermostats(receiver, url)`` with healthy push;
- ``push first, push dies at noon``: the same, every delivery lost from noon on;
- ``webhooks only (peer)``: ``ensure_subscription`` for every plant, no polling, push dying at
  noon (what a peer relying on webhooks alone sees);
- ``fixed interval (peer)``: every thermostat read every ``--peer-interval`` seconds, without a
  local limiter, whatever the budget.

Aims (exit 1, with "MISSED", when one is missed): push first, healthy: p99 <= 5 s plus the
latency, on <= 10 % of the budget; push dying at noon: detected, and the p99 of the changes made
after the detection <= 1.1 x the poll-only p99 of the same changes; 0 x 429 and 0 x 403 in each
of ours. The floor ``N x 86400 / budget`` is printed beside: how often a poll-only strategy
could read each thermostat if the whole budget went to reads.

Run: ``python benchmarks/freshness.py [--thermostats 100] [--plants 5] [--budget 500]
[--changes 3] [--latency 2] [--hours 24] [--seed 0] [--peer-interval 900]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import random
import sys
from collections.abc import Callable, Coroutine, Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("legrand_async") is None:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing, like scripts/

from legrand_async import LegrandClient, LegrandError, RateLimit, StatusChange  # noqa: E402
from legrand_async.simulator import Simulator  # noqa: E402
from legrand_async.testing import StepClock, signed_in_client  # noqa: E402
from legrand_async.webhooks import ThermostatEvent, WebhookReceiver  # noqa: E402

SECRET = "freshness-benchmark-secret"
URL = f"https://receiver.example/hooks/{SECRET}"
START = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)
Target = tuple[str, str]
Change = tuple[float, int, int, float]  # seconds into the day, plant, module, setpoint


def schedule(args: argparse.Namespace, per_plant: int) -> list[Change]:
    """The device changes of the day, the same for every strategy."""
    rng = random.Random(args.seed)
    day = args.hours * 3600.0
    changes: list[Change] = []
    for plant in range(args.plants):
        for module in range(per_plant):
            setpoint = 20.0
            count = max(0, round(rng.gauss(args.changes, 1.0)))
            for at in sorted(rng.uniform(60.0, day - 60.0) for _ in range(count)):
                setpoint = rng.choice([s / 2 for s in range(36, 50) if s / 2 != setpoint])
                changes.append((at, plant, module, setpoint))
    return sorted(changes)


class Staleness:
    """Each change's staleness: until a state with its setpoint (or a later one's) arrives."""

    def __init__(self, clock: StepClock) -> None:
        self.clock = clock
        self.pending: dict[Target, list[tuple[float, float]]] = {}
        self.values: list[tuple[float, float]] = []  # (made at, staleness), seconds

    def changed(self, target: Target, setpoint: float) -> None:
        self.pending.setdefault(target, []).append((self.clock.monotonic(), setpoint))

    def seen(self, target: Target, setpoint: float | None) -> None:
        waiting = self.pending.get(target, [])
        hits = [i for i, (_, s) in enumerate(waiting) if s == setpoint]
        if not hits:
            return
        now = self.clock.monotonic()
        for made, _ in waiting[: hits[-1] + 1]:
            self.values.append((made, now - made))
        del waiting[: hits[-1] + 1]

    def close(self) -> None:
        now = self.clock.monotonic()
        for waiting in self.pending.values():
            self.values.extend((made, now - made) for made, _ in waiting)
            waiting.clear()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class Run:
    """One strategy's simulated day."""

    def __init__(self, args: argparse.Namespace, *, limiter: bool = True) -> None:
        self.args = args
        self.clock = StepClock(START)
        self.receiver = WebhookReceiver(SECRET, clock=self.clock)
        self.sim = Simulator.fleet(
            plants=args.plants,
            thermostats_per_plant=args.thermostats // args.plants,
            seed=args.seed,
            clock=self.clock,
            per_day=args.budget,
            per_second=args.per_second,
            webhook_transport=httpx.ASGITransport(app=self.receiver),
        )
        self.sim.pushes.latency = args.latency
        limit = RateLimit(per_second=args.per_second, per_day=args.budget, clock=self.clock)
        self.client = signed_in_client(self.sim, rate_limit=limit if limiter else None)
        self.staleness = Staleness(self.clock)
        self.detected: float | None = None

    def target(self, plant: int, module: int) -> Target:
        p = self.sim.plants[plant]
        return (p.id, p.module_ids[module])

    def noon_outage(self) -> None:
        self.sim.pushes.outage(START + timedelta(hours=12), timedelta(days=2))

    async def day(self, follow: Callable[[LegrandClient], Coroutine[Any, Any, None]]) -> None:
        """Run the day: the device changes on schedule, ``follow`` consuming beside them."""
        end = self.args.hours * 3600.0
        changes = schedule(self.args, self.args.thermostats // self.args.plants)
        async with anyio.create_task_group() as group:
            group.start_soon(self.clock.run)
            async with self.sim.running(), self.client, anyio.create_task_group() as inner:
                inner.start_soon(follow, self.client)
                for at, plant, module, setpoint in changes:
                    await self.clock.sleep(at - self.clock.monotonic())
                    self.sim.device(*self.target(plant, module)).set(setpoint=setpoint)
                    self.staleness.changed(self.target(plant, module), setpoint)
                await self.clock.sleep(end - self.clock.monotonic())
                self.staleness.close()
                inner.cancel_scope.cancel()
            group.cancel_scope.cancel()

    def consume(self, change: StatusChange) -> None:
        self.staleness.seen(change.target, change.current.setpoint)

    def row(self, name: str) -> dict[str, Any]:
        values = [s for _, s in self.staleness.values]
        stats = self.client.stats.statuses
        return {
            "strategy": name,
            "p50": percentile(values, 0.5),
            "p99": percentile(values, 0.99),
            "max": max(values, default=0.0),
            "calls": self.sim.calls_today,
            "429": stats[429],
            "403": stats[403],
            "values": self.staleness.values,
            "detected": self.detected,
        }


async def poll_only(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args)

    async def follow(client: LegrandClient) -> None:
        async with client.poll_thermostats() as poller:
            async for change in poller:
                run.consume(change)

    await run.day(follow)
    return run.row("poll only")


async def push_first(args: argparse.Namespace, *, dying: bool) -> dict[str, Any]:
    run = Run(args)
    if dying:
        run.noon_outage()

    async def follow(client: LegrandClient) -> None:
        async with client.watch_thermostats(run.receiver, URL) as watch:
            async for change in watch:
                run.consume(change)
                broken = [h.broken_since for h in watch.health.values() if h.broken_since]
                if broken and run.detected is None:
                    run.detected = (min(broken) - START).total_seconds()

    await run.day(follow)
    return run.row("push first, push dies at noon" if dying else "push first, healthy push")


async def webhooks_only(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args)
    run.noon_outage()

    async def follow(client: LegrandClient) -> None:
        for plant in run.sim.plants:
            await client.smarther.ensure_subscription(plant.id, URL)
        async with aclosing(run.receiver.events()) as events:
            async for event in events:
                if isinstance(event, ThermostatEvent) and event.plant_id and event.module_id:
                    target = (event.plant_id.removeprefix("bs_cloud_"), event.module_id)
                    run.staleness.seen(target, event.status.setpoint)

    await run.day(follow)
    return run.row("webhooks only (peer), push dies at noon")


async def fixed_interval(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args, limiter=False)
    targets = [
        run.target(p, m)
        for p in range(args.plants)
        for m in range(len(run.sim.plants[p].module_ids))
    ]

    async def follow(client: LegrandClient) -> None:
        while True:
            began = run.clock.monotonic()
            for target in targets:
                try:
                    status = await client.smarther.get_status(*target)
                except LegrandError:
                    continue
                run.staleness.seen(target, status.setpoint)
            await run.clock.sleep(max(0.0, began + args.peer_interval - run.clock.monotonic()))

    await run.day(follow)
    return run.row(f"fixed {args.peer_interval:g} s interval (peer)")


def shown(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def after(row: dict[str, Any], moment: float) -> float:
    return percentile([s for made, s in row["values"] if made >= moment], 0.99)


def verdict(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[str]:
    """The aims missed (empty: all met)."""
    poll, healthy, dying = rows[0], rows[1], rows[2]
    missed = []
    if healthy["p99"] > 5 + args.latency:
        missed.append(f"healthy push p99 {healthy['p99']:.1f} s > {5 + args.latency:g} s")
    if healthy["calls"] > 0.1 * args.budget:
        missed.append(f"healthy push spent {healthy['calls']} calls > 10 % of {args.budget}")
    if dying["detected"] is None:
        missed.append("push dying at noon was not detected")
    else:
        ours, theirs = after(dying, dying["detected"]), after(poll, dying["detected"])
        if ours > 1.1 * theirs:
            missed.append(f"after detection p99 {shown(ours)} > 1.1 x poll only {shown(theirs)}")
    for row in rows[:3]:
        if row["429"] or row["403"]:
            missed.append(f"{row['strategy']}: {row['429']} x 429, {row['403']} x 403")
    return missed


async def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        await poll_only(args),
        await push_first(args, dying=False),
        await push_first(args, dying=True),
        await webhooks_only(args),
        await fixed_interval(args),
    ]


def table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    lines = [
        "| strategy | staleness p50 | p99 | max | calls | 429 | 403 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {shown(r['p50'])} | {shown(r['p99'])} | {shown(r['max'])} "
            f"| {r['calls']} | {r['429']} | {r['403']} |"
        )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thermostats", type=int, default=100)
    parser.add_argument("--plants", type=int, default=5)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--per-second", type=float, default=5.0)
    parser.add_argument("--changes", type=float, default=3.0, help="per thermostat per day")
    parser.add_argument("--latency", type=float, default=2.0, help="push latency, seconds")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-interval", type=float, default=900.0)
    args = parser.parse_args(argv)
    if args.thermostats < args.plants or args.plants < 1:
        parser.error("--thermostats must be at least --plants, and --plants at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    rows = asyncio.run(measure(args))
    changes = len(rows[0]["values"])
    floor = args.thermostats * 86400 / args.budget
    print(
        f"{args.thermostats} thermostats on {args.plants} plants, {args.budget} calls a day, "
        f"{changes} device changes in {args.hours:g} h, push latency {args.latency:g} s"
    )
    print(f"floor N x 86400 / budget = {shown(floor)} between two reads of a thermostat")
    print(table(args, rows))
    dying = rows[2]
    if dying["detected"] is not None:
        print(
            f"push dying at noon: detected at +{shown(dying['detected'] - 12 * 3600)}; p99 of the "
            f"changes after: {shown(after(dying, dying['detected']))} (poll only: "
            f"{shown(after(rows[0], dying['detected']))})"
        )
    missed = verdict(args, rows)
    for aim in missed:
        print(f"MISSED: {aim}")
    print("verdict: " + ("all aims met" if not missed else f"{len(missed)} aim(s) missed"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
