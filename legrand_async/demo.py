"""``legrand-async demo``: the library's main job, offline, against the embedded simulator.

It starts a simulated cloud with a fleet, signs in through the OAuth authorization-code flow and
hands the rest to ``client.poll_thermostats()``: discovery plant by plant, every thermostat
read in turn, the day's quota spread evenly with a reserve kept for the user's own commands (a
few of which it sends). Time is compressed: one simulated day passes in ``--seconds`` (the
simulator, the limiter, the retries and the poller all run on that clock), so a day of pacing
shows in a minute. It prints what discovery found and a line per round, and ends with a summary
(also on Ctrl-C): calls, retries by cause, errors outlived, changes seen, calls left today.
Simulated faults are outlived and counted: they never make the demo fail.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TextIO

import anyio
import anyio.lowlevel

from . import (
    LegrandClient,
    LegrandError,
    MemoryTokenStore,
    OAuth2Auth,
    RateLimit,
    RetryPolicy,
    SetStatus,
)
from ._clock import Clock, SystemClock
from ._poller import StatusChange, ThermostatPoller

__all__ = ["RESERVE", "DemoClock", "add_parser", "run", "run_demo"]

#: The share of the daily quota kept for the user's own commands.
RESERVE: Final = 0.2
#: The simulated span of a demo: a day but its last minute (so "today" is one day).
DAY: Final = 86400.0 - 60.0
#: Room for retries when the demo suggests a quota (calls per call).
_ROOM: Final = 1.25
#: At most one round line per this much simulated time (seconds).
_ROUND_LINES: Final = 3600.0
#: At most one discovery line per this much simulated time, until discovery settles.
_DISCOVERY_LINES: Final = 600.0


def add_parser(commands: Any) -> None:
    """Register ``demo`` on the CLI's subcommands."""
    demo = commands.add_parser(
        "demo",
        help="poll a simulated fleet within the quota (offline)",
        description="A simulated day of polling a fleet within its daily quota, in --seconds.",
    )
    demo.add_argument("--plants", type=int, default=50, help="plants in the fleet (default 50)")
    demo.add_argument("--thermostats", type=int, default=2, help="per plant (default 2)")
    demo.add_argument(
        "--seconds", type=float, default=60.0, help="how long the simulated day lasts (default 60)"
    )
    demo.add_argument("--per-day", type=int, default=500, help="daily quota (default 500)")
    demo.add_argument("--per-second", type=int, default=10, help="gateway rate (default 10/s)")
    demo.add_argument("--faults", type=float, default=0.05, help="fault rate 0..1 (default 0.05)")
    demo.add_argument("--seed", type=int, default=0)


async def run(args: argparse.Namespace) -> int:
    """The ``demo`` command."""
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


class DemoClock:
    """``base``'s time sped up ``speed`` times, from ``start``; no sleep goes past ``length``.

    ``monotonic()`` counts simulated seconds from 0, once :meth:`begin` is called (the sign-in
    comes first, in no time). A sleep always moves the clock by what it asked (whatever
    ``base``'s resolution); one that reaches ``length`` ends there and cancels the scope of
    :meth:`until_the_end`.
    """

    def __init__(self, base: Clock, *, speed: float, start: datetime, length: float) -> None:
        self.base = base
        self.speed = speed
        self.start = start
        self.length = length
        self._origin: float | None = None  # base.monotonic() when the day began: still 00:00
        self._floor = 0.0
        self._scope: anyio.CancelScope | None = None

    def begin(self) -> None:
        """Let the simulated day run from now (until then the clock stays at its start)."""
        self._origin = self.base.monotonic()

    def monotonic(self) -> float:
        if self._origin is None:
            return self._floor
        elapsed = (self.base.monotonic() - self._origin) * self.speed
        return min(max(elapsed, self._floor), self.length)  # the day ends at its end

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic())

    @property
    def over(self) -> bool:
        return self.monotonic() >= self.length

    async def sleep(self, seconds: float) -> None:
        begin = self.monotonic()
        end = min(begin + max(0.0, seconds), self.length)
        await self.base.sleep((end - begin) / self.speed)
        self._floor = max(self._floor, end)
        if end >= self.length and self._scope is not None:
            self._scope.cancel()
            await anyio.lowlevel.checkpoint()

    def until_the_end(self) -> anyio.CancelScope:
        """A scope cancelled when a sleep reaches the end of the simulated span."""
        self._scope = anyio.CancelScope()
        return self._scope


def _check(
    plants: int, thermostats: int, seconds: float, per_day: int, per_second: int, faults: float
) -> None:
    """Refuse arguments the demo cannot run with, in one line each, before any call."""
    counts = [("plants", plants), ("thermostats", thermostats), ("per-day", per_day)]
    for name, value in [*counts, ("per-second", per_second)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name} must be a whole number >= 1, got {value!r}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"--seconds must be a positive number, got {seconds!r}")
    if not 0 <= faults <= 1:
        raise ValueError(f"--faults is a probability, 0..1, got {faults!r}")
    spendable = _spendable(per_day)
    if plants + 1 > spendable:
        # What a day needs: the discovery and a round of polls, with room for retries.
        day = math.ceil(_ROOM * (plants + 1 + plants * thermostats))
        least = next(n for n in itertools.count(per_day) if _spendable(n) >= day)
        fewer = math.floor((spendable / _ROOM - 1) / (1 + thermostats))
        raise ValueError(
            f"a quota of {per_day} calls a day cannot discover {plants} plants: that takes "
            f"{plants + 1} calls and {spendable} are spendable (the rest is the {RESERVE:.0%} "
            f"reserve kept for your own commands); use --per-day {least} or more"
            + (f", or --plants {fewer} or fewer" if fewer >= 1 else "")
        )


def _spendable(per_day: int) -> int:
    """The calls the poller may spend in a day: all but the reserve."""
    return per_day - math.ceil(RESERVE * per_day)


async def run_demo(
    *,
    plants: int = 50,
    thermostats: int = 2,
    seconds: float = 60.0,
    per_day: int = 500,
    per_second: int = 10,
    faults: float = 0.05,
    seed: int = 0,
    out: TextIO | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Run the demo for ``seconds`` of ``clock`` (default: the real one); the summary, as a dict.

    It prints to ``out`` (default: standard output), the summary also when the demo is
    cancelled (Ctrl-C) or fails.
    """
    _check(plants, thermostats, seconds, per_day, per_second, faults)
    out = out if out is not None else sys.stdout
    from .simulator import Simulator  # the simulator extra

    base = clock if clock is not None else SystemClock()
    midnight = base.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sim_clock = DemoClock(base, speed=DAY / seconds, start=midnight, length=DAY)
    sim = Simulator.fleet(
        plants=plants,
        thermostats_per_plant=thermostats,
        seed=seed,
        fault_rate=faults,
        per_second=per_second,
        per_day=per_day,
        clock=sim_clock,
        access_lifetime=timedelta(days=2),  # a compressed hour may pass in a busy moment
    )
    sim.faults.latency = 0.05
    print(
        f"Simulated cloud: {plants} plants x {thermostats} thermostats, quota {per_day}/day, "
        f"{per_second}/s, faults {faults:.0%}; a simulated day in {seconds:g} s",
        file=out,
    )
    token = await sim.sign_in()
    print(f"Signed in through the OAuth flow: {token}", file=out)
    auth = OAuth2Auth(sim.oauth_app(), MemoryTokenStore(token), clock=sim_clock)
    limit = RateLimit(per_second=per_second, per_day=per_day, clock=sim_clock)
    rng = random.Random(seed)  # noqa: S311 - which thermostat gets a command
    started = base.monotonic()
    sim_clock.begin()
    async with sim.client(
        auth=auth, retry=RetryPolicy(max_delay=2.0), clock=sim_clock, rate_limit=limit
    ) as client:
        poller = client.poll_thermostats(reserve=RESERVE)
        report = _Report(out, sim_clock, client, poller, per_day)
        try:
            with sim_clock.until_the_end():
                async with poller:
                    async for change in poller:
                        if sim_clock.over:
                            break
                        if report.seen(change) and report.commands < report.max_commands:
                            await report.command(rng)
        finally:
            stats = client.stats
            summary: dict[str, Any] = {
                **report.discovered(),
                "rounds": poller.cycles,
                "polls": poller.polls,
                "calls on the wire": stats.attempts,
                "retries": stats.retried,
                "retries by cause": dict(stats.retries),
                "429 answers": stats.statuses[429],
                "errors by class": dict(poller.errors + report.failed),
                "user commands": report.commands,
                "changes seen": report.changes,
                "calls left today": max(0, per_day - sim.calls_today),
                "simulated": f"{_hhmm(sim_clock.monotonic())} of the day",
                "seconds": round(base.monotonic() - started, 1),
            }
            print("\nSummary", file=out)
            width = max(len(k) for k in summary)
            for key, value in summary.items():
                print(f"  {key:<{width}}  {value}", file=out)
    return summary


def _hhmm(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


class _Report:
    """What the demo prints as the poller goes, and the counts of its summary."""

    def __init__(
        self,
        out: TextIO,
        clock: DemoClock,
        client: LegrandClient,
        poller: ThermostatPoller,
        per_day: int,
    ) -> None:
        self.out = out
        self.clock = clock
        self.client = client
        self.poller = poller
        self.per_day = per_day
        self.changes = 0
        self.commands = 0
        self.max_commands = math.ceil(RESERVE * per_day) // 4  # a quarter of the reserve
        self.failed: Counter[str] = Counter()
        self._rounds = 0
        self._round_line = -math.inf
        self._discovery: tuple[object, ...] = ()
        self._discovery_line = -math.inf

    def _say(self, text: str) -> None:
        print(f"[{_hhmm(self.clock.monotonic())}] {text}", file=self.out)

    def discovered(self) -> dict[str, Any]:
        found = self.poller.discovery
        assert found is not None
        return {
            "plants": f"{len(found.plants)} listed, {len(found.plants) - len(found.pending)} read"
            + (f", {len(found.retrying)} to retry" if found.retrying else ""),
            "thermostats": len(self.poller.targets),
            "ids skipped": len(found.skipped),
        }

    def seen(self, change: StatusChange) -> bool:
        """Count ``change``, print what is new; whether a round line was printed."""
        self.changes += 1
        now = self.clock.monotonic()
        found = self.poller.discovery
        assert found is not None
        state = (len(found.plants), len(found.pending), len(self.poller.targets))
        settled = not found.pending
        if state != self._discovery and (settled or now - self._discovery_line >= _DISCOVERY_LINES):
            self._discovery, self._discovery_line = state, now
            info = self.discovered()
            self._say(f"discovery: plants {info['plants']}, {info['thermostats']} thermostats")
        if self.poller.cycles == self._rounds or now - self._round_line < _ROUND_LINES:
            return False
        self._rounds, self._round_line = self.poller.cycles, now
        quota = self.client.quota
        left = quota.remaining_today if quota is not None else None
        interval = self.poller.interval or 0.0
        self._say(
            f"round {self.poller.cycles}: {self.poller.polls} reads, "
            f"{sum(self.poller.errors.values())} errors outlived, {self.changes} changes, "
            f"{left} calls left today, each thermostat read every {_duration(interval)}"
        )
        return True

    async def command(self, rng: random.Random) -> None:
        """The user's own command, from the reserve: a thermostat set by hand."""
        targets = self.poller.targets
        if not targets:
            return
        plant, module = rng.choice(targets)
        setpoint = rng.choice([19, 21.5, 23])
        try:
            await self.client.smarther.set_status(plant, module, SetStatus.manual(setpoint))
        except LegrandError as exc:
            self.failed[type(exc).__name__] += 1
            self._say(f"your command failed ({type(exc).__name__}); the poller goes on")
            return
        self.commands += 1
        self._say(f"you set thermostat {module[:8]} to {setpoint} C (from the reserve)")
