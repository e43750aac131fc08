"""``legrand-async demo``: the library's main job, offline, against the embedded simulator.

It starts a simulated cloud with a fleet, signs in through the OAuth authorization-code flow,
discovers every thermostat and polls them all concurrently, spending the daily quota evenly over
the run (keeping a reserve for the user's own commands, a few of which it sends), and ends with a
summary: calls, retries by cause, 429s, changes seen, calls left today.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import Counter
from typing import Any, TextIO

from . import LegrandError, MemoryTokenStore, OAuth2Auth, RateLimit, RetryPolicy, SetStatus
from ._clock import Clock
from .models.smarther import ChronothermostatStatus

__all__ = ["add_parser", "run", "run_demo"]

RESERVE = 0.2  # share of the budget kept for the user's own commands


def add_parser(commands: Any) -> None:
    """Register ``demo`` on the CLI's subcommands."""
    demo = commands.add_parser("demo", help="poll a simulated fleet within the quota (offline)")
    demo.add_argument("--plants", type=int, default=50, help="plants in the fleet (default 50)")
    demo.add_argument("--thermostats", type=int, default=2, help="per plant (default 2)")
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    demo.add_argument("--per-day", type=int, default=500, help="daily quota (default 500)")
    demo.add_argument("--per-second", type=int, default=10, help="gateway rate (default 10/s)")
    demo.add_argument("--faults", type=float, default=0.05, help="fault rate 0..1 (default 0.05)")
    demo.add_argument("--seed", type=int, default=0)


async def run(args: argparse.Namespace) -> int:
    """The ``demo`` command."""
    if args.plants < 1 or args.thermostats < 1 or args.seconds <= 0 or args.per_day < 1:
        raise ValueError("--plants, --thermostats, --seconds and --per-day must be positive")
    await run_demo(
        plants=args.plants,
        thermostats=args.thermostats,
        seconds=args.seconds,
        per_day=args.per_day,
        per_second=args.per_second,
        faults=args.faults,
        seed=args.seed,
    )
    return 0


async def run_demo(
    *,
    plants: int = 50,
    thermostats: int = 2,
    seconds: float = 60.0,
    per_day: int = 500,
    per_second: int = 10,
    faults: float = 0.05,
    seed: int = 0,
    out: TextIO = sys.stdout,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Run the demo; the summary it prints, as a dict. ``clock`` drives every wait (tests)."""
    from .simulator import Simulator  # the simulator extra

    sim = Simulator.fleet(
        plants=plants,
        thermostats_per_plant=thermostats,
        seed=seed,
        fault_rate=faults,
        per_second=per_second,
        per_day=per_day,
        clock=clock,
    )
    clock = sim.clock
    sim.faults.latency = 0.05
    say = print
    say(
        f"Simulated cloud: {plants} plants x {thermostats} thermostats, quota {per_day}/day, "
        f"{per_second}/s, faults {faults:.0%}",
        file=out,
    )
    token = await sim.sign_in()
    say(f"Signed in through the OAuth flow: {token}", file=out)
    auth = OAuth2Auth(sim.oauth_app(), MemoryTokenStore(token))
    rng = random.Random(seed)  # noqa: S311 - which thermostat gets a command
    seen: dict[tuple[str, str], ChronothermostatStatus] = {}
    changes = failures = commands = 0
    errors: Counter[str] = Counter()
    started = clock.monotonic()
    # The limiter paces every attempt within the per-second rate and the day's quota.
    limit = RateLimit(per_second=per_second, per_day=per_day, clock=clock)
    async with sim.client(
        auth=auth, retry=RetryPolicy(max_delay=2.0), clock=clock, rate_limit=limit
    ) as client:
        targets = []
        for plant in await client.smarther.list_plants():
            topology = await client.smarther.get_topology(plant.id)
            targets += [
                (plant.id, m.id) for m in topology.modules if m.device == "chronothermostat"
            ]
        left = per_day - sim.calls_today
        budget = int(left * (1 - RESERVE))
        per_round = max(1, len(targets) + 1)  # the polls, and maybe one command
        fits = int(seconds * per_second * 0.9) // per_round  # what the rate allows in the time
        rounds = max(1, min(budget // per_round, fits))
        interval = seconds / rounds
        say(
            f"Discovered {len(targets)} thermostats; budget {budget} of {left} calls left today "
            f"-> {rounds} rounds, one every {interval:.1f} s",
            file=out,
        )
        async def poll(target: tuple[str, str]) -> None:
            nonlocal changes, failures
            try:
                status = await client.smarther.get_status(*target)
            except LegrandError as exc:
                failures += 1
                errors[type(exc).__name__] += 1
                return
            previous = seen.get(target)
            if previous is None or _differs(previous, status):
                changes += 1
            seen[target] = status

        for number in range(1, rounds + 1):
            round_started = clock.monotonic()
            if commands < left * RESERVE // 4 and targets:  # the user's own command now and then
                target = rng.choice(targets)
                try:
                    await client.smarther.set_status(
                        *target, SetStatus.manual(rng.choice([19, 21.5, 23]))
                    )
                    commands += 1
                except LegrandError as exc:
                    errors[type(exc).__name__] += 1
            await asyncio.gather(*(poll(t) for t in targets))
            stats = client.stats
            say(
                f"[{clock.monotonic() - started:5.1f} s] round {number}/{rounds}: "
                f"{stats.attempts} calls, {stats.retried} retries, {stats.statuses[429]} x 429, "
                f"{changes} changes, {per_day - sim.calls_today} left today",
                file=out,
            )
            if number < rounds:
                await clock.sleep(max(0.0, interval - (clock.monotonic() - round_started)))
        stats = client.stats
    summary: dict[str, Any] = {
        "thermostats": len(targets),
        "rounds": rounds,
        "calls on the wire": stats.attempts,
        "retries": stats.retried,
        "retries by cause": dict(stats.retries),
        "429 answers": stats.statuses[429],
        "failed polls": failures,
        "errors by class": dict(errors),
        "user commands": commands,
        "changes seen": changes,
        "calls left today": per_day - sim.calls_today,
        "seconds": round(clock.monotonic() - started, 1),
    }
    say("\nSummary", file=out)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        say(f"  {key:<{width}}  {value}", file=out)
    return summary


def _differs(a: ChronothermostatStatus, b: ChronothermostatStatus) -> bool:
    return (a.mode, a.setpoint, a.temperature, a.load_state) != (
        b.mode,
        b.setpoint,
        b.temperature,
        b.load_state,
    )
