"""The demo runs the library's main job against the simulator, within the quota, and never fails
on a simulated fault. Every run here is on a fake clock: a simulated day passes at once."""

from __future__ import annotations

import asyncio
import inspect
import io
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from legrand_async import LegrandClient, cli, demo
from legrand_async.demo import RESERVE, run_demo
from legrand_async.testing import FakeClock

FAULTS = (0.0, 0.05, 0.3, 0.5)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """``legrand-async demo`` on a fake clock: the whole CLI path, at once."""
    monkeypatch.setattr(demo, "SystemClock", FakeClock)


def summary_of(text: str) -> dict[str, str]:
    lines = text.split("\nSummary\n", 1)[1].splitlines()
    return {line[2:].split("  ", 1)[0]: line.split("  ", 2)[-1].strip() for line in lines}


@pytest.mark.parametrize("faults", FAULTS)
def test_every_seed_and_fault_rate_ends_with_the_summary_and_exit_0(
    fake_time: None, capsys: pytest.CaptureFixture[str], faults: float
) -> None:
    for seed in range(21):
        argv = ["demo", "--plants", "4", "--per-day", "100", "--seed", str(seed)]
        assert cli.main([*argv, "--faults", str(faults)]) == 0, seed
        out, err = capsys.readouterr()
        assert err == ""
        summary = summary_of(out)
        assert summary["plants"] == "4 listed, 4 read", (seed, out)
        assert summary["thermostats"] == "8", (seed, out)
        assert summary["429 answers"] == "0", (seed, out)  # the limiter paces the gateway's rate
        assert summary["simulated"] == "23:59 of the day", (seed, out)
        assert int(summary["rounds"]) >= 1, (seed, out)
        assert int(summary["calls left today"]) >= math.ceil(100 * RESERVE) - 5, (seed, out)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--seed", "5"],
        ["--seed", "8"],
        ["--plants", "20", "--seconds", "10"],
        ["--faults", "0.3"],
        ["--faults", "0.5", "--seed", "8"],
        ["--plants", "8", "--seconds", "2", "--faults", "0.3", "--seed", "0"],
        ["--plants", "8", "--seconds", "2", "--faults", "0.3", "--seed", "5"],
        ["--plants", "8", "--seconds", "2", "--faults", "0.3", "--seed", "8"],
    ],
)
def test_what_a_new_user_tries_ends_with_exit_0(
    fake_time: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert cli.main(["demo", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "Summary" in out
    assert "the response body is not JSON" not in out


def test_a_quota_too_small_for_discovery_is_one_line_before_any_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from legrand_async import simulator

    def no(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the simulator was started")

    monkeypatch.setattr(simulator.Simulator, "fleet", no)
    assert refused(["--per-day", "50"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("legrand-async demo: error: a quota of 50 calls a day")
    assert "50 plants" in err
    # 237 - 48 = 189 spendable: the list, 50 topologies and 100 polls, with room for retries.
    assert "--per-day 237 or more" in err
    assert "--plants 10 or fewer" in err


def test_the_smallest_quota_it_suggests_is_enough(
    fake_time: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--per-day", "237"]) == 0
    summary = summary_of(capsys.readouterr().out)
    assert summary["plants"] == "50 listed, 50 read"
    assert summary["thermostats"] == "100"
    assert int(summary["rounds"]) >= 1


def refused(argv: list[str]) -> object:
    """The exit status of ``legrand-async demo ARGV`` when it refuses its arguments."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", *argv])
    return exit_info.value.code


@pytest.mark.parametrize(
    "argv",
    [
        ["--plants", "0"],
        ["--plants", "-3"],
        ["--plants", "10001"],
        ["--plants", "x"],
        ["--plants", "2.5"],
        ["--plants", "9" * 5000],
        ["--thermostats", "0"],
        ["--thermostats", "11"],
        ["--seconds", "0"],
        ["--seconds", "-1"],
        ["--seconds", "0.0001"],
        ["--seconds", "1e308"],
        ["--seconds", "nan"],
        ["--seconds", "inf"],
        ["--seconds", "soon"],
        ["--per-day", "0"],
        ["--per-day", "1"],
        ["--per-day", "50"],
        ["--per-day", "-500"],
        ["--per-day", "1" + "0" * 400],
        ["--per-day", "abc"],
        ["--per-second", "0"],
        ["--faults", "2"],
        ["--faults", "-0.1"],
        ["--faults", "nan"],
        ["--faults", "x"],
        ["--seed", "x"],
        ["--plants"],
        ["--bogus"],
        ["--plants", "1", "--per-day", "3"],  # discovery fits, but not a single round of polls
    ],
)
def test_nonsense_is_one_line_and_exit_2_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    from legrand_async import simulator

    def no(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the simulator was started")

    monkeypatch.setattr(simulator.Simulator, "fleet", no)
    assert refused(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    # argparse's own words (an unknown option is the root parser's), on one line.
    one_line = r"legrand-async( demo)?: error: .+ \(see legrand-async( demo)? --help\)\n"
    assert re.fullmatch(one_line, err)
    assert "Traceback" not in err


@pytest.mark.asyncio
async def test_the_demo_is_the_poller_at_work(monkeypatch: pytest.MonkeyPatch) -> None:
    pollers: list[Any] = []
    original = LegrandClient.poll_thermostats

    def spy(self: LegrandClient, *args: Any, **kwargs: Any) -> Any:
        pollers.append(original(self, *args, **kwargs))
        return pollers[-1]

    monkeypatch.setattr(LegrandClient, "poll_thermostats", spy)
    out = io.StringIO()
    summary = await run_demo(
        plants=4,
        thermostats=2,
        seconds=30,
        per_day=120,
        faults=0.2,
        seed=3,
        out=out,
        clock=FakeClock(),
    )
    (poller,) = pollers
    text = out.getvalue()
    assert summary["thermostats"] == len(poller.targets) == 8
    assert summary["rounds"] == poller.cycles >= 2
    assert summary["polls"] == poller.polls
    assert summary["errors by class"].keys() >= poller.errors.keys()
    assert summary["changes seen"] >= 8  # the first round sees every thermostat
    assert summary["calls on the wire"] >= summary["polls"]
    # The poller never spent the reserve; the user's commands come out of it.
    assert summary["calls left today"] >= math.ceil(120 * RESERVE) - summary["user commands"]
    assert summary["seconds"] == pytest.approx(30, abs=0.5)  # the day took --seconds
    assert summary["simulated"] == "23:59 of the day"
    for shown in ("discovery: plants 4 listed, 4 read", "round 1:", "retries by cause"):
        assert shown in text
    signed_in = next(line for line in text.splitlines() if line.startswith("Signed in"))
    assert signed_in == "Signed in through the OAuth authorization-code flow (6 scopes)"
    assert "access_token" not in text


@pytest.mark.asyncio
async def test_a_plant_that_keeps_failing_shows_in_the_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from legrand_async.simulator import Simulator

    fleet = Simulator.fleet

    def failing(*args: Any, **kwargs: Any) -> Simulator:
        sim = fleet(*args, **kwargs)
        sim.faults.per_route["get_topology"] = 1.0
        sim.faults.kinds = ("5xx",)
        return sim

    monkeypatch.setattr(Simulator, "fleet", failing)
    out = io.StringIO()
    summary = await run_demo(plants=3, per_day=100, faults=0, out=out, clock=FakeClock())
    assert summary["plants"] == "3 listed, 0 read, 3 to retry"
    assert summary["thermostats"] == 0
    assert summary["errors by class"]["ServerError"] >= 3


def test_ctrl_c_prints_the_summary_so_far(
    fake_time: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_print = print

    def interrupting(*args: Any, **kwargs: Any) -> None:
        real_print(*args, **kwargs)
        if args and "] round 2:" in str(args[0]):
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C does, in the middle of the run

    monkeypatch.setattr("builtins.print", interrupting)
    assert cli.main(["demo", "--plants", "4", "--per-day", "200"]) == 130
    out = capsys.readouterr().out
    assert "round 2:" in out
    assert "round 3:" not in out
    summary = summary_of(out)
    assert int(summary["rounds"]) == 2


def interrupt_on_call(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, call: int) -> None:
    """Ctrl-C (a real SIGINT to this process) on the ``call``-th call of ``target.name``."""
    original = getattr(target, name)
    calls = itertools.count(1)

    def press_ctrl_c() -> None:
        if next(calls) == call:
            signal.raise_signal(signal.SIGINT)

    if inspect.iscoroutinefunction(original):

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            press_ctrl_c()
            await asyncio.sleep(0)  # as a call on a network would: Ctrl-C is taken here
            return await original(*args, **kwargs)

    else:

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            press_ctrl_c()
            return result

    monkeypatch.setattr(target, name, wrapped)


@pytest.mark.parametrize(
    ("phase", "call"),
    [
        ("building the fleet", 1),
        ("signing in", 1),
        ("listing the plants", 1),
        ("reading a topology", 1),
        ("reading a topology", 3),
        ("reading a status", 1),
        ("reading a status", 9),
        ("reading a status", 30),
        ("the user's command", 1),
        ("a sleep", 1),
        ("a sleep", 40),
    ],
)
def test_ctrl_c_at_any_moment_prints_the_summary_so_far(
    fake_time: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    phase: str,
    call: int,
) -> None:
    from legrand_async.simulator import Simulator, smarther

    target, name = {
        "building the fleet": (Simulator, "fleet"),
        "signing in": (Simulator, "sign_in"),
        "listing the plants": (smarther.Smarther, "list_plants"),
        "reading a topology": (smarther.Smarther, "get_topology"),
        "reading a status": (smarther.Smarther, "get_status"),
        "the user's command": (smarther.Smarther, "set_status"),
        "a sleep": (demo.DemoClock, "sleep"),
    }[phase]
    interrupt_on_call(monkeypatch, target, name, call)
    assert cli.main(["demo", "--plants", "4", "--per-day", "200", "--faults", "0.2"]) == 130
    out, err = capsys.readouterr()
    assert err == ""  # no traceback, no "401 Unauthorized"
    summary = summary_of(out)
    assert summary["simulated"].endswith("of the day")
    assert int(summary["calls on the wire"]) <= 200


def run_and_interrupt(after: str) -> tuple[int, str, str]:
    """``legrand-async demo`` in a real process, Ctrl-C (SIGINT) once ``after`` is printed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-m", "legrand_async.cli", "demo", "--plants", "8", "--seconds", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # The default Ctrl-C handling, even when these tests run where SIGINT is ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line)
        if after in line:
            child.send_signal(signal.SIGINT)
            break
    out, err = child.communicate(timeout=30)
    return child.returncode, "".join(seen) + out, err


@pytest.mark.parametrize("after", ["Simulated cloud", "discovery:"])
def test_ctrl_c_to_a_real_process_prints_the_summary(after: str) -> None:
    status, out, err = run_and_interrupt(after)
    assert (status, err) == (130, "")
    assert "\nSummary\n" in out
    assert int(summary_of(out)["calls on the wire"]) >= (after == "discovery:")


@pytest.mark.asyncio
async def test_cancelling_the_demo_prints_the_summary_so_far() -> None:
    out = io.StringIO()
    task = asyncio.ensure_future(
        run_demo(plants=4, per_day=200, out=out, clock=FakeClock(), seconds=60)
    )
    while "round 1:" not in out.getvalue() and not task.done():  # noqa: ASYNC110 - the demo's turn
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "\nSummary\n" in out.getvalue()


def test_demo_is_a_cli_command() -> None:
    args = cli.parser().parse_args(["demo", "--plants", "3", "--seconds", "5"])
    assert (args.command, args.plants, args.seconds) == ("demo", 3, 5.0)
    assert cli.COMMANDS["demo"] is cli.run_demo


@pytest.mark.asyncio
async def test_the_demo_clock_compresses_a_day_and_ends_it() -> None:
    from datetime import UTC, datetime

    base = FakeClock()
    start = datetime(2026, 1, 12, tzinfo=UTC)
    clock = demo.DemoClock(base, speed=1000.0, start=start, length=3600.0)
    base.advance(5)  # the sign-in: the simulated day has not begun
    assert clock.monotonic() == 0
    assert clock.now() == start
    clock.begin()
    base.advance(1)
    assert clock.monotonic() == 1000.0
    await clock.sleep(0.25)  # moves by what it asked, whatever the base's resolution
    assert clock.monotonic() == pytest.approx(1000.25)
    with clock.until_the_end() as scope:
        await clock.sleep(10_000)
        raise AssertionError("not reached: the day ended")  # pragma: no cover
    assert scope.cancelled_caught
    assert clock.over
    assert clock.monotonic() == 3600.0
    base.advance(100)
    assert clock.monotonic() == 3600.0  # the day ends at its end
    assert clock.now() == start.replace(hour=1)
    assert base.monotonic() == pytest.approx(5 + 1 + 0.25 / 1000 + 2.59975 + 100)


def test_a_day_in_a_millisecond_on_the_real_clock(capsys: pytest.CaptureFixture[str]) -> None:
    # The sign-in comes before the day begins: its code cannot expire in compressed time.
    assert cli.main(["demo", "--plants", "2", "--seconds", "0.001"]) == 0
    summary = summary_of(capsys.readouterr().out)
    assert summary["simulated"] == "23:59 of the day"


@pytest.mark.asyncio
async def test_on_a_terminal_the_progress_is_one_live_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal: no round lines, a block redrawn in place (rounds, calls, changes, calls
    left), taken away for the summary; piped, the round lines as before."""
    monkeypatch.setattr(demo, "is_terminal", lambda out: True)
    out = io.StringIO()
    summary = await run_demo(plants=4, per_day=200, faults=0, out=out, clock=FakeClock())
    text = out.getvalue()
    before, _, after = text.partition("\nSummary")
    for shown in ("rounds", "reads", "calls on the wire", "changes seen", "calls left today"):
        assert shown in before
    assert "\x1b[" in before  # drawn in place with cursor moves
    assert "round 1:" not in text
    assert "Signed in through the OAuth authorization-code flow" in before
    assert summary["rounds"] >= 1
    assert "calls left today" in after

    monkeypatch.setattr(demo, "is_terminal", lambda out: False)
    piped = io.StringIO()
    await run_demo(plants=4, per_day=200, faults=0, out=piped, clock=FakeClock())
    assert "round 1:" in piped.getvalue()
    assert "\x1b[" not in piped.getvalue()


def test_json_prints_only_the_summary(fake_time: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--json", "--plants", "4", "--per-day", "100"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    summary = json.loads(out)  # the one JSON object, nothing around it
    assert summary["plants"] == "4 listed, 4 read"
    assert summary["thermostats"] == 8
    assert summary["simulated"] == "23:59 of the day"
    assert isinstance(summary["retries by cause"], dict)
