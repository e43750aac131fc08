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
import math
import random
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn, TextIO

import anyio
import anyio.lowlevel

from .. import (
    LegrandClient,
    LegrandError,
    MemoryTokenStore,
    OAuth2Auth,
    RateLimit,
    RetryPolicy,
    SetStatus,
    _checks,
)
from .._clock import Clock, SystemClock
from .._poller import StatusChange, ThermostatPoller
from .._poller._pacing import spendable
from ._output import add_json_flag, is_terminal

__all__ = ["ARGUMENTS", "RESERVE", "DemoClock", "add_parser", "run_demo"]

#: The share of the daily quota kept for the user's own commands.
RESERVE: Final = 0.2
#: The simulated span of a demo: a day but its last minute (so "today" is one day).
DAY: Final = 86400.0 - 60.0
#: Room for retries when the demo suggests a quota (calls per call).
_ROOM: Final = 1.25
#: At most one round line per this much simulated time (seconds).
_ROUND_LINES: Final = 3600.0
#: The live block is redrawn at most this often (seconds of the real clock).
_REFRESH: Final = 0.25
#: At most one discovery line per this much simulated time, until discovery settles.
_DISCOVERY_LINES: Final = 600.0


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``demo`` on the CLI's subcommands (it has no use for ``--config``)."""
    demo = commands.add_parser(
        "demo",
        help="poll a simulated fleet within the quota (offline)",
        description="Poll a simulated fleet of thermostats for a whole simulated day, within "
        "its daily quota, in --seconds of real time: no account and no network needed.",
    )
    demo.add_argument("--plants", type=int, default=50, help="plants in the fleet (default 50)")
    demo.add_argument(
        "--thermostats", type=int, default=2, help="thermostats in each plant (default 2)"
    )
    demo.add_argument(
        "--seconds", type=float, default=60.0, help="how long the simulated day lasts (default 60)"
    )
    demo.add_argument("--per-day", type=int, default=500, help="calls allowed a day (default 500)")
    demo.add_argument(
        "--per-second", type=int, default=10, help="calls allowed a second (default 10)"
    )
    demo.add_argument(
        "--faults",
        type=float,
        default=0.05,
        help="share of calls that fail, from 0 to 1 (default 0.05)",
    )
    demo.add_argument(
        "--seed", type=int, default=0, help="the same seed gives the same fleet (default 0)"
    )
    add_json_flag(demo, "print only the summary, as JSON, at the end")
    demo.set_defaults(refuse=demo.error)


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


#: The options checked by :func:`_check`, with the range each must be in.
_OPTIONS: Final = {
    "plants": (1, 10_000),
    "thermostats": (1, 10),
    "seconds": (0.001, 86400.0),  # a simulated day in a millisecond, or in a real day
    "per_day": (1, 10**9),
    "per_second": (1, 10**6),
    "faults": (0.0, 1.0),
}


#: The ``demo`` command's arguments: keywords of :func:`run_demo`.
ARGUMENTS: Final = (*_OPTIONS, "seed")


def _check(
    plants: int, thermostats: int, seconds: float, per_day: int, per_second: int, faults: float
) -> None:
    """Refuse arguments the demo cannot run with, in one line each, before any call."""
    given = locals()
    for name, (low, high) in _OPTIONS.items():
        value, flag = given[name], "--" + name.replace("_", "-")
        if isinstance(low, int):
            _checks.count(flag, value, minimum=low, maximum=int(high))
        else:
            _checks.real(flag, value, minimum=low, maximum=high)
    spendable = _spendable(per_day)
    need = _need(plants, thermostats)
    if need > spendable:
        least = max(per_day, math.floor(need / (1 - RESERVE)) - 1)
        while _spendable(least) < need:
            least += 1
        fewer = math.floor((spendable / _ROOM - 1) / (1 + thermostats))
        while fewer >= 1 and _need(fewer, thermostats) > spendable:
            fewer -= 1
        raise ValueError(
            f"a quota of {per_day} calls a day cannot discover and poll {plants} "
            f"plant{'s' if plants > 1 else ''} of {thermostats} thermostat"
            f"{'s' if thermostats > 1 else ''}: that takes {need} calls with room for retries and "
            f"{spendable} are spendable (the rest is the {RESERVE:.0%} reserve kept for your own "
            f"commands); use --per-day {least} or more"
            + (f", or --plants {fewer} or fewer" if fewer >= 1 else "")
        )


def _need(plants: int, thermostats: int) -> int:
    """The calls a day needs at least: the plant list, the topologies and a round of polls,
    with room for retries."""
    return math.ceil(_ROOM * (1 + plants + plants * thermostats))


def _spendable(per_day: int) -> int:
    """The calls the poller may spend in a day: all but the reserve (the poller's own rule)."""
    return math.floor(spendable(per_day, per_day, RESERVE))


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
    refuse: Callable[[str], NoReturn] | None = None,
) -> dict[str, Any]:
    """Run the demo for ``seconds`` of ``clock`` (default: the real one); the summary, as a dict.

    It prints to ``out`` (default: standard output), the summary also when the demo is
    cancelled (Ctrl-C) or fails, at any moment (building the fleet, signing in, polling).
    Arguments it cannot run with raise ``ValueError`` or ``TypeError`` before anything starts,
    or go to ``refuse`` (the ``demo`` command passes its parser's ``error``: one line, exit 2).
    """
    try:
        _check(plants, thermostats, seconds, per_day, per_second, faults)
    except (TypeError, ValueError) as exc:
        if refuse is None:
            raise
        refuse(str(exc))
    from ..simulator import Simulator  # the simulator extra

    base = clock if clock is not None else SystemClock()
    midnight = base.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sim_clock = DemoClock(base, speed=DAY / seconds, start=midnight, length=DAY)
    report = _Report(out if out is not None else sys.stdout, sim_clock, per_day)
    try:
        sim = report.sim = Simulator.fleet(
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
        report.say(
            f"Simulated cloud: {plants} plants x {thermostats} thermostats, quota {per_day}/day, "
            f"{per_second}/s, faults {faults:.0%}; a simulated day in {seconds:g} s"
        )
        token = await sim.sign_in()
        scopes = len((token.scope or "").split())
        report.say(f"Signed in through the OAuth authorization-code flow ({scopes} scopes)")
        auth = OAuth2Auth(sim.oauth_app(), MemoryTokenStore(token), clock=sim_clock)
        limit = RateLimit(per_second=per_second, per_day=per_day, clock=sim_clock)
        rng = random.Random(seed)  # noqa: S311 - which thermostat gets a command
        report.started = base.monotonic()
        report.go_live()
        sim_clock.begin()
        async with sim.client(
            auth=auth, retry=RetryPolicy(max_delay=2.0), clock=sim_clock, rate_limit=limit
        ) as client:
            report.client = client
            poller = report.poller = client.poll_thermostats(reserve=RESERVE)
            with sim_clock.until_the_end():
                async with poller:
                    async for change in poller:
                        if sim_clock.over:
                            break
                        if report.seen(change) and report.commands < report.max_commands:
                            await report.command(rng)
    finally:
        summary = report.summary()
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
    """What the demo prints as it goes, and its summary: what was done so far, at any moment."""

    def __init__(self, out: TextIO, clock: DemoClock, per_day: int) -> None:
        self.out = out
        self.clock = clock
        self.per_day = per_day
        self.sim: Any = None  # the Simulator, once built
        self.client: LegrandClient | None = None
        self.poller: ThermostatPoller | None = None
        self.started: float | None = None  # base.monotonic() when the simulated day began
        self.changes = 0
        self.commands = 0
        self.max_commands = (per_day - _spendable(per_day)) // 4  # a quarter of the reserve
        self.failed: Counter[str] = Counter()
        self._rounds = 0
        self._round_line = -math.inf
        self._discovery: tuple[object, ...] = ()
        self._discovery_line = -math.inf
        self._live: Any = None  # a rich Live on a terminal, once the day began
        self._refreshed = -math.inf  # base.monotonic() of the live block's last refresh

    def say(self, text: str) -> None:
        if self._live is not None:  # above the live block
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.out)

    def go_live(self) -> None:
        """On a terminal (and with rich), show the progress in one block updated in place."""
        if not is_terminal(self.out):
            return
        try:
            from rich.console import Console
            from rich.live import Live
        except ImportError:  # pragma: no cover - the cli extra installs rich
            return
        self._live = Live(
            self.progress(),
            console=Console(file=self.out, force_terminal=True),
            auto_refresh=False,  # no thread of its own: refreshed as changes come, see seen()
            transient=True,  # the summary follows in its place
        )
        self._live.start()

    def progress(self) -> Any:
        """The live block: the simulated time, rounds, reads, calls, changes, calls left."""
        from rich.table import Table

        poller, client = self.poller, self.client
        quota = client.quota if client is not None else None
        left = quota.remaining_today if quota is not None else self.per_day
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        rows = {
            "simulated time": f"{_hhmm(self.clock.monotonic())} of the day",
            "rounds": poller.cycles if poller is not None else 0,
            "reads": poller.polls if poller is not None else 0,
            "calls on the wire": client.stats.attempts if client is not None else 0,
            "changes seen": self.changes,
            "errors outlived": sum(poller.errors.values()) if poller is not None else 0,
            "calls left today": left,
        }
        for name, value in rows.items():
            grid.add_row(name, str(value))
        return grid

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.update(self.progress(), refresh=True)
            self._live.stop()
            self._live = None

    def _say(self, text: str) -> None:
        self.say(f"[{_hhmm(self.clock.monotonic())}] {text}")

    def discovered(self) -> dict[str, Any]:
        found = self.poller.discovery if self.poller is not None else None
        listed = len(found.plants) if found is not None else 0
        read = listed - len(found.pending) if found is not None else 0
        retrying = len(found.retrying) if found is not None else 0
        return {
            "plants": f"{listed} listed, {read} read"
            + (f", {retrying} to retry" if retrying else ""),
            "thermostats": len(self.poller.targets) if self.poller is not None else 0,
            "ids skipped": len(found.skipped) if found is not None else 0,
        }

    def summary(self) -> dict[str, Any]:
        """The summary so far, printed and returned."""
        poller, client = self.poller, self.client
        stats = client.stats if client is not None else None
        errors = (poller.errors if poller is not None else Counter()) + self.failed
        calls = self.sim.calls_today if self.sim is not None else 0
        elapsed = self.clock.base.monotonic() - self.started if self.started is not None else 0
        summary: dict[str, Any] = {
            **self.discovered(),
            "rounds": poller.cycles if poller is not None else 0,
            "polls": poller.polls if poller is not None else 0,
            "calls on the wire": stats.attempts if stats is not None else 0,
            "retries": stats.retried if stats is not None else 0,
            "retries by cause": dict(stats.retries) if stats is not None else {},
            "429 answers": stats.statuses[429] if stats is not None else 0,
            "errors by class": dict(errors),
            "user commands": self.commands,
            "changes seen": self.changes,
            "calls left today": max(0, self.per_day - calls),
            "simulated": f"{_hhmm(self.clock.monotonic())} of the day",
            "seconds": round(elapsed, 1),
        }
        self._stop_live()
        self.say("\nSummary")
        width = max(len(k) for k in summary)
        for key, value in summary.items():
            self.say(f"  {key:<{width}}  {value}")
        return summary

    def seen(self, change: StatusChange) -> bool:
        """Count ``change``, print what is new; whether a round line was printed."""
        poller, client = self.poller, self.client
        assert poller is not None
        assert client is not None
        self.changes += 1
        now = self.clock.monotonic()
        found = poller.discovery
        assert found is not None
        state = (len(found.plants), len(found.pending), len(poller.targets))
        settled = not found.pending
        if state != self._discovery and (settled or now - self._discovery_line >= _DISCOVERY_LINES):
            self._discovery, self._discovery_line = state, now
            info = self.discovered()
            self._say(f"discovery: plants {info['plants']}, {info['thermostats']} thermostats")
        if self._live is not None and self.clock.base.monotonic() - self._refreshed >= _REFRESH:
            self._refreshed = self.clock.base.monotonic()
            self._live.update(self.progress(), refresh=True)
        if poller.cycles == self._rounds or now - self._round_line < _ROUND_LINES:
            return False
        self._rounds, self._round_line = poller.cycles, now
        quota = client.quota
        left = quota.remaining_today if quota is not None else None
        interval = poller.interval or 0.0
        if self._live is None:  # on a terminal the live block shows the rounds
            self._say(
                f"round {poller.cycles}: {poller.polls} reads, "
                f"{sum(poller.errors.values())} errors outlived, {self.changes} changes, "
                f"{left} calls left today, each thermostat read every {_duration(interval)}"
            )
        return True

    async def command(self, rng: random.Random) -> None:
        """The user's own command, from the reserve: a thermostat set by hand."""
        poller, client = self.poller, self.client
        assert poller is not None
        assert client is not None
        targets = poller.targets
        if not targets:
            return
        plant, module = rng.choice(targets)
        setpoint = rng.choice([19, 21.5, 23])
        try:
            await client.smarther.set_status(plant, module, SetStatus.manual(setpoint))
        except LegrandError as exc:
            self.failed[type(exc).__name__] += 1
            self._say(f"your command failed ({type(exc).__name__}); the poller goes on")
            return
        self.commands += 1
        self._say(f"you set thermostat {module[:8]} to {setpoint} C (from the reserve)")
