"""``legrand_async.testing`` used as a user would, and ``legrand-async simulator``.

The plugin is exercised with pytester in a subprocess: a user's test file (among them the
example of docs/testing.md) runs in a fresh pytest, under pytest-asyncio in strict and auto
mode and under anyio's plugin, loading the plugin through its ``pytest11`` entry point when the
installed package declares it, else with ``-p``. The simulator command is run in process (a
task, cancelled) and as a real process (``python -m legrand_async.cli``, stopped with SIGINT),
with real loopback HTTP: ``LegrandClient`` calls, an OAuth sign-in and ``legrand-async login``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from legrand_async import LegrandClient, OAuthApp, cli
from legrand_async.simulator import Simulator
from legrand_async.simulator._cli import _client_url, add_parser, run
from legrand_async.testing import DEFAULT_START, FakeClock

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
TESTING_PAGE = ROOT / "docs" / "testing.md"
_PY_FENCE = re.compile(r"^```py[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TIMEOUT = 60.0


def _plugin_args() -> list[str]:
    """Load the plugin by name unless the installed package's entry point loads it already.

    (pytest refuses a plugin registered twice.)
    """
    declared = {ep.value for ep in entry_points(group="pytest11")}
    return [] if "legrand_async.testing" in declared else ["-p", "legrand_async.testing"]


def _pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *_plugin_args(),
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        *args,
        timeout=TIMEOUT,
    )


def _doc_examples() -> list[str]:
    """The ```py blocks of docs/testing.md: the example test file, then the conftest.py."""
    return _PY_FENCE.findall(TESTING_PAGE.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ registration


def test_the_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"legrand_async": "legrand_async.testing"}


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = _pytest(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.legrand_simulator(**options):*"])


# ------------------------------------------------------------------------- the docs' example


def test_the_documented_test_file_passes(pytester: pytest.Pytester) -> None:
    test_file, _ = _doc_examples()
    pytester.makepyfile(test_heating_bot=test_file)
    result = _pytest(pytester, "-o", "asyncio_mode=strict", "--strict-markers", "-W", "error")
    result.assert_outcomes(passed=4)


def test_the_documented_conftest_changes_the_fleet(pytester: pytest.Pytester) -> None:
    _, conftest = _doc_examples()
    pytester.makeconftest(conftest)
    pytester.makepyfile(
        """
        import pytest

        def test_module_options(legrand_simulator):
            assert len(legrand_simulator.plants) == 20
            assert len(legrand_simulator.plants[0].thermostats) == 3
            assert legrand_simulator.app.per_second == 5

        @pytest.mark.legrand_simulator(plants=2)
        def test_the_mark_wins(legrand_simulator):
            assert len(legrand_simulator.plants) == 2
            assert len(legrand_simulator.plants[0].thermostats) == 3  # the rest stays
        """
    )
    _pytest(pytester, "--strict-markers").assert_outcomes(passed=2)


# ------------------------------------------------------------------ the fixtures, every runner

USER_TESTS = """
from datetime import timedelta

import pytest


MARK
async def test_the_client_is_wired_to_the_simulator(legrand_simulator, legrand_client):
    plants = await legrand_client.smarther.list_plants()
    assert [plant.id for plant in plants] == list(legrand_simulator.plants)
    assert len(plants) == 3
    assert all(len(plant.thermostats) == 2 for plant in legrand_simulator.plants)


MARK
async def test_time_moves_only_when_told(legrand_simulator, legrand_client, legrand_clock):
    assert legrand_simulator.clock is legrand_clock
    start = legrand_clock.now()
    await legrand_client.smarther.list_plants()
    assert legrand_clock.now() == start
    legrand_clock.advance(timedelta(days=3))  # far beyond the access token's hour
    assert len(await legrand_client.smarther.list_plants()) == 3


MARK
@pytest.mark.legrand_simulator(plants=1, per_second=1)
async def test_retry_after_moves_simulated_time(legrand_client, legrand_clock):
    for _ in range(3):
        await legrand_client.smarther.list_plants()
    assert legrand_clock.sleeps == [1.0, 1.0]
    assert legrand_client.stats.retries["429"] == 2


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the simulator runs on asyncio (uvicorn, C2C delivery tasks)


saved = []


MARK
async def test_a_fresh_simulator_each_time_1(legrand_simulator, legrand_client):
    await legrand_client.smarther.list_plants()
    assert legrand_simulator.calls_today == 1
    saved.append(legrand_client)


MARK
async def test_a_fresh_simulator_each_time_2(legrand_simulator, legrand_client):
    assert legrand_simulator.calls_today == 0
    assert saved and saved[0] is not legrand_client
    with pytest.raises(RuntimeError, match="closed"):
        await saved[0].smarther.list_plants()  # the first test's client was closed


def test_a_sync_test_can_use_them(legrand_simulator, legrand_client, legrand_clock):
    assert legrand_client is not None and legrand_simulator.plants
"""

RUNNERS = {
    # name: (the mark of the async tests, pytest options)
    "asyncio-strict": ("@pytest.mark.asyncio", ["-o", "asyncio_mode=strict"]),
    "asyncio-auto": ("", ["-o", "asyncio_mode=auto"]),
    "anyio": ("@pytest.mark.anyio", ["-p", "no:asyncio"]),
    "anyio-beside-asyncio-strict": ("@pytest.mark.anyio", ["-o", "asyncio_mode=strict"]),
}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_the_fixtures_under_every_runner(pytester: pytest.Pytester, runner: str) -> None:
    mark, options = RUNNERS[runner]
    pytester.makepyfile(test_user=USER_TESTS.replace("MARK\n", f"{mark}\n" if mark else ""))
    result = _pytest(pytester, *options, "--strict-markers")
    result.assert_outcomes(passed=6)


def test_marks_merge_with_the_options_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def legrand_simulator_options():
            return {"plants": 4, "seed": 9, "fault_rate": 0.5}

        def test_options(legrand_simulator):
            assert len(legrand_simulator.plants) == 4
            assert len(legrand_simulator.plants[0].thermostats) == 2  # the default stays
            assert legrand_simulator.faults.rate == 0.5

        @pytest.mark.legrand_simulator(plants=1, fault_rate=0.0)
        class TestMarks:
            def test_class_mark(self, legrand_simulator):
                assert len(legrand_simulator.plants) == 1
                assert legrand_simulator.faults.rate == 0.0

            @pytest.mark.legrand_simulator(plants=2)
            def test_the_closest_mark_wins(self, legrand_simulator):
                assert len(legrand_simulator.plants) == 2
                assert legrand_simulator.faults.rate == 0.0

        def test_same_seed_same_fleet(legrand_simulator):
            again = type(legrand_simulator).fleet(plants=4, seed=9, thermostats_per_plant=2)
            assert list(again.plants) == list(legrand_simulator.plants)

        @pytest.mark.legrand_simulator(5)
        def test_positional_mark_arguments_are_refused(legrand_simulator):
            pass
        """
    )
    result = _pytest(pytester, "--strict-markers")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*TypeError: @pytest.mark.legrand_simulator takes keyword*"])


# --------------------------------------------------------------------------------- FakeClock


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    assert clock.now() == DEFAULT_START == datetime(2026, 1, 12, 7, 0, tzinfo=UTC)
    assert clock.monotonic() == 0.0
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert clock.now() == DEFAULT_START + timedelta(seconds=150)
    assert clock.monotonic() == 150.0
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert "2026-01-12T07:02:30" in repr(clock)


def test_fake_clock_start() -> None:
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert FakeClock(start).now() == start
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 6, 1, 12, 0))  # naive


@pytest.mark.asyncio
async def test_fake_clock_sleep_returns_at_once_with_the_time_moved() -> None:
    clock = FakeClock()
    other_ran = asyncio.Event()

    async def other() -> None:
        other_ran.set()

    task = asyncio.create_task(other())
    await clock.sleep(2.5)
    await clock.sleep(0)
    assert other_ran.is_set()  # a sleep lets other tasks run
    await task
    assert clock.sleeps == [2.5, 0]
    assert clock.monotonic() == 2.5


# ------------------------------------------------------------------- the simulator command


def _args(*argv: str) -> argparse.Namespace:
    root = argparse.ArgumentParser(prog="legrand-async")
    add_parser(root.add_subparsers(dest="command", required=True))
    return root.parse_args(["simulator", *argv])


_PRINTED = {
    "base_url": r"Base URL:\s+(\S+)",
    "key": r"Subscription key:\s+(\S+)",
    "client_id": r"Client id:\s+(\S+)",
    "secret": r"Client secret:\s+(\S+)",
    "redirect": r"Redirect URI:\s+(\S+)",
    "token": r"Access token:\s+(\S+)",
    "plant": r"Plant id:\s+(\S+)",
    "thermostat": r"Thermostat id:\s+(\S+)",
}


def _printed(text: str) -> dict[str, str]:
    found = {name: re.search(pattern, text) for name, pattern in _PRINTED.items()}
    missing = [name for name, match in found.items() if match is None]
    assert not missing, f"{missing} not in {text!r}"
    return {name: match.group(1) for name, match in found.items() if match}


def test_options_are_checked() -> None:
    args = _args()
    assert (args.port, args.host, args.fleet, args.thermostats) == (8080, "127.0.0.1", 10, 2)
    assert (args.faults, args.per_second, args.per_day, args.seed) == (0.0, None, None, 0)
    for wrong in (
        ["--faults", "1.5"],
        ["--faults", "-0.1"],
        ["--port", "70000"],
        ["--fleet", "-1"],
        ["--per-second", "0"],
        ["--per-day", "x"],
    ):
        with pytest.raises(SystemExit) as exited:
            _args(*wrong)
        assert exited.value.code == 2, wrong


def test_client_urls_of_wildcard_and_ipv6_hosts() -> None:
    assert _client_url("127.0.0.1", "http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert _client_url("0.0.0.0", "http://0.0.0.0:8080") == "http://127.0.0.1:8080"  # noqa: S104
    assert _client_url("::", "http://:::8080") == "http://[::1]:8080"
    assert _client_url("::1", "http://::1:8080") == "http://[::1]:8080"
    assert _client_url("localhost", "http://localhost:81") == "http://localhost:81"


@pytest.mark.asyncio
async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot serve on 127.0.0.1:{port}"):
            await run(_args("--port", str(port)), out=io.StringIO())


@pytest.mark.asyncio
async def test_run_serves_until_cancelled() -> None:
    out = io.StringIO()
    args = _args("--port", "0", "--fleet", "3", "--thermostats", "1", "--seed", "5")
    task = asyncio.create_task(run(args, out=out))
    try:
        async with asyncio.timeout(TIMEOUT):
            while "Press Ctrl-C" not in out.getvalue():
                assert not task.done(), out.getvalue()
                await asyncio.sleep(0.01)
            printed = _printed(out.getvalue())
            expected = Simulator.fleet(plants=3, thermostats_per_plant=1, seed=5)
            assert printed["plant"] == expected.plants[0].id
            assert printed["thermostat"] == expected.plants[0].thermostats[0].id
            assert printed["key"] == expected.subscription_key
            assert "3 plants, 1 thermostats each, seed 5" in out.getvalue()

            # Real HTTP on the loopback port, with the printed credentials.
            async with LegrandClient(
                subscription_key=printed["key"],
                access_token=printed["token"],
                base_url=printed["base_url"],
            ) as client:
                plants = await client.smarther.list_plants()
                status = await client.smarther.get_status(printed["plant"], printed["thermostat"])
            assert [plant.id for plant in plants] == list(expected.plants)
            assert status.module_id == printed["thermostat"]

            # The OAuth server at the same base URL, with the printed application.
            app = OAuthApp(
                printed["client_id"],
                printed["secret"],
                printed["redirect"],
                auth_url=printed["base_url"],
            )
            url, state = app.authorization_url()
            async with httpx.AsyncClient() as browser:
                consent = await browser.get(url)
            assert consent.status_code == 302
            token = await app.exchange_code(consent.headers["location"], expected_state=state)
            async with LegrandClient(
                printed["key"], access_token=token.access_token, base_url=printed["base_url"]
            ) as client:
                assert len(await client.smarther.list_plants()) == 3
    finally:
        task.cancel()
        assert await asyncio.wait_for(task, TIMEOUT) == 0
    assert out.getvalue().endswith("Simulator stopped.\n")


def test_the_summary_line_names_the_limits() -> None:
    from legrand_async.simulator._cli import describe

    sim = Simulator.fleet(plants=2, thermostats_per_plant=1)
    text = describe(sim, "http://127.0.0.1:1", _args("--faults", "0.1", "--per-second", "5"))
    assert "faults 10%, 5 calls/s, no daily quota" in text
    text = describe(sim, "http://127.0.0.1:1", _args("--per-day", "500"))
    assert "no faults, no rate limit, 500 calls/day" in text
    empty = Simulator.fleet(plants=0)
    assert "Plant id" not in describe(empty, "http://127.0.0.1:1", _args("--fleet", "0"))


# -------------------------------------------------- ``legrand-async simulator`` as a process


class Served:
    """``python -m legrand_async.cli simulator`` running, and what it printed."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "legrand_async.cli", "simulator", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.output = self.read_until("Press Ctrl-C")
        self.printed = _printed(self.output)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read_until(self, marker: str) -> str:
        text = ""
        while marker not in text:
            line = self._lines.get(timeout=TIMEOUT)
            assert line is not None, f"the simulator ended: {text!r}"
            text += line
        return text

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=TIMEOUT)


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served("--port", "0", "--fleet", "2", "--seed", "3")
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=TIMEOUT)


def test_the_command_serves_until_ctrl_c(served: Served) -> None:
    printed = served.printed
    headers = {
        "Ocp-Apim-Subscription-Key": printed["key"],
        "Authorization": f"Bearer {printed['token']}",
    }
    answer = httpx.get(f"{printed['base_url']}/smarther/v2.0/plants", headers=headers, timeout=10)
    assert answer.status_code == 200
    assert [plant["id"] for plant in answer.json()["plants"]] == list(
        Simulator.fleet(plants=2, thermostats_per_plant=2, seed=3).plants
    )
    assert served.stop() == 0
    assert served.read_until("Simulator stopped.")


def test_login_and_plants_against_the_command(
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``legrand-async login --auth-url --base-url`` signs in to it, ``plants`` lists its plants."""
    printed = served.printed
    for name in list(os.environ):
        if name.startswith("LEGRAND_"):
            monkeypatch.delenv(name)

    def browser(prompt: str, secret: bool = False) -> str:
        """Opens the printed authorization URL; the simulator consents and redirects."""
        assert "paste" in prompt
        url = re.findall(r"http://\S+/authorize\?\S+", capsys.readouterr().out)[-1]
        consent = httpx.get(url, timeout=10)
        assert consent.status_code == 302
        return consent.headers["location"]

    monkeypatch.setattr(cli, "ask", browser)
    config = str(tmp_path / "simulator-login")
    base = printed["base_url"]
    status = cli.main(
        [
            "login",
            "--config",
            config,
            "--auth-url",
            base,
            "--base-url",
            base,
            "--client-id",
            printed["client_id"],
            "--client-secret",
            printed["secret"],
            "--redirect-uri",
            printed["redirect"],
            "--subscription-key",
            printed["key"],
        ]
    )
    assert status == 0
    assert "Logged in." in capsys.readouterr().out
    assert cli.main(["plants", "--config", config]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert listed == list(Simulator.fleet(plants=2, thermostats_per_plant=2, seed=3).plants)
    assert served.stop() == 0
