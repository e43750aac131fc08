"""The commands that print data, run in process against a simulator on a loopback port.

Each prints a table on a terminal (rich), tab-separated lines otherwise, or JSON with
``--json``; ``whoami`` and ``status`` say different things; ``watch`` streams changes; every
command and flag has help in plain words; argument errors come before anything starts.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from legrand_async import Token, __version__, cli
from legrand_async.cli import _output
from legrand_async.cli._config import token_store

from .test_cli import _clean_environment  # noqa: F401 - autouse: no LEGRAND_* leaks in
from .test_docs_simulated import Served


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served() as served:
        yield served


@pytest.fixture
def login(served: Served, tmp_path: Path) -> Path:
    """A saved login for the simulator, as ``legrand-async login`` leaves one."""
    sim, directory = served.sim, tmp_path / "cfg"
    directory.mkdir()
    config = {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "redirect_uri": sim.redirect_uri,
        "subscription_key": sim.subscription_key,
        "auth_url": served.url,
        "base_url": served.url,
    }
    (directory / "config.json").write_text(json.dumps(config))
    served.sign_in(directory / "token.json")
    return directory


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output is a terminal: tables are drawn with rich."""
    monkeypatch.setattr(_output, "is_terminal", lambda out: True)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(list(args)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _thermostats(served: Served) -> list[tuple[str, str]]:
    return [
        (plant.id, thermostat.id) for plant in served.sim.plants for thermostat in plant.thermostats
    ]


# --- plants ---------------------------------------------------------------------------------


def test_plants_as_lines(login: Path, served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "plants", "--config", str(login))
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines == [["plant", "name"], *([p.id, p.name] for p in served.sim.plants)]


@pytest.mark.usefixtures("terminal")
def test_plants_as_a_table(login: Path, served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "plants", "--config", str(login))
    assert out.splitlines()[0].strip() == "Smarther plants"
    assert re.search(r"┃ plant\s+┃ name\s+┃", out)
    for plant in served.sim.plants:
        assert re.search(rf"│ {plant.id} │ {plant.name}\s+│", out)
    assert "\t" not in out


def test_plants_as_json(login: Path, served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "plants", "--json", "--config", str(login))
    assert json.loads(out) == [{"id": p.id, "name": p.name} for p in served.sim.plants]


# --- thermostats ----------------------------------------------------------------------------


def test_thermostats_as_json(
    login: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.loads(run(capsys, "thermostats", "--json", "--config", str(login)))
    assert [(row["plant_id"], row["thermostat_id"]) for row in rows] == _thermostats(served)
    names = {plant.id: plant.name for plant in served.sim.plants}
    for row in rows:
        assert set(row) == {
            "plant_id", "plant", "thermostat_id", "thermostat",
            "mode", "setpoint", "temperature", "humidity", "online",
        }  # fmt: skip
        assert row["plant"] == names[row["plant_id"]]
        assert row["mode"] in {"automatic", "manual", "boost", "off", "protection"}
        assert isinstance(row["temperature"], float)
        assert isinstance(row["humidity"], float)


def test_thermostats_as_lines_match_the_json(
    login: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.loads(run(capsys, "thermostats", "--json", "--config", str(login)))
    lines = run(capsys, "thermostats", "--config", str(login)).splitlines()
    assert lines[0].split("\t") == list(cli.thermostats.COLUMNS)
    assert len(lines) == 1 + len(rows)
    first = lines[1].split("\t")
    row = rows[0]
    assert first[:3] == [row["plant"], row["thermostat"], row["mode"]]
    assert first[3] == f"{row['setpoint']} °C"
    assert first[4] == f"{row['temperature']} °C"
    assert first[5] == f"{row['humidity']} %"


@pytest.mark.usefixtures("terminal")
def test_thermostats_as_a_table(login: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "thermostats", "--config", str(login))
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    cells = [cell.strip().rstrip("…") for cell in header.strip("┃").split("┃")]
    # A narrow terminal shortens a heading ("temperatu…"), never drops or reorders one.
    assert len(cells) == len(cli.thermostats.COLUMNS)
    for cell, column in zip(cells, cli.thermostats.COLUMNS, strict=True):
        assert column.startswith(cell), (cell, column)
        assert len(cell) >= min(len(column), 5), (cell, column)
    assert out.count("automatic") + out.count("manual") >= 1
    assert "°C" in out


# --- whoami and status ----------------------------------------------------------------------


def _jwt(claims: dict[str, object]) -> str:
    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return ".".join([part({"alg": "RS256"}), part(claims), "signature"])


def test_whoami_shows_the_sign_in(login: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    token = Token(
        _jwt({"name": "Ada Lovelace", "sub": "1234"}), "refresh-1", expires, "comfort.read"
    )
    token_store(login).save_sync(token)

    out = run(capsys, "whoami", "--config", str(login))
    assert "User: Ada Lovelace" in out
    assert f"Access token expires {expires.isoformat()}" in out
    assert "scope: comfort.read" in out
    assert "Quota" not in out
    data = json.loads(run(capsys, "whoami", "--json", "--config", str(login)))
    assert data["user"] == "Ada Lovelace"
    assert data["scopes"] == ["comfort.read"]
    assert data["expires_at"] == expires.isoformat()
    assert data["expired"] is False
    assert token.access_token not in out + json.dumps(data)


def test_status_shows_the_quota_and_the_token_health(
    login: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = json.loads(run(capsys, "status", "--json", "--config", str(login)))
    assert before["quota"]["used"] == 0
    assert before["quota"]["left"] == before["quota"]["per_day"] == 500
    assert before["token"]["health"] == "ok"
    run(capsys, "plants", "--config", str(login))  # one call, counted in quota.json

    after = json.loads(run(capsys, "status", "--json", "--config", str(login)))
    assert (after["quota"]["used"], after["quota"]["left"]) == (1, 499)
    assert datetime.fromisoformat(after["quota"]["resets_at"]) > datetime.now(UTC)
    out = run(capsys, "status", "--config", str(login))
    assert "Quota today: 1 call used, 499 left of 500; resets " in out
    assert "Token: ok, valid " in out
    assert out != run(capsys, "whoami", "--config", str(login))


def test_status_of_an_expired_token(login: Path, capsys: pytest.CaptureFixture[str]) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    token_store(login).save_sync(Token("access-1", "refresh-1", past))
    out = run(capsys, "status", "--config", str(login))
    assert "Token: expired; it refreshes on the next call" in out
    assert json.loads(run(capsys, "status", "--json", "--config", str(login)))["token"] == {
        "health": "expired",
        "expires_at": past.isoformat(),
    }


# --- watch ----------------------------------------------------------------------------------


def test_watch_prints_a_line_per_change(
    login: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    count = len(_thermostats(served))
    lines = run(capsys, "watch", "--count", str(count), "--config", str(login)).splitlines()
    assert len(lines) == count
    for line in lines:
        assert re.fullmatch(
            r"\d\d:\d\d:\d\d plant \S{8} thermostat \S{8}: \w+, setpoint \S+, "
            r"temperature \S+, humidity \S+, online \S+",
            line,
        )
    seen = {(m[0], m[1]) for m in re.findall(r"plant (\S{8}) thermostat (\S{8})", "\n".join(lines))}
    assert seen == {(p[:8], t[:8]) for p, t in _thermostats(served)}


def test_watch_as_json_lines(
    login: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run(capsys, "watch", "--json", "--count", "2", "--config", str(login)).splitlines()
    changes = [json.loads(line) for line in lines]
    assert len(changes) == 2
    for change in changes:
        assert (change["plant_id"], change["thermostat_id"]) in _thermostats(served)
        assert change["previous"] is None  # the first reading of each
        assert {"time", "mode", "setpoint", "temperature", "humidity", "online"} <= set(change)


# --- version, help, argument errors ---------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"legrand-async {__version__}\n"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_help_in_plain_words(command: str) -> None:
    parser = _subparsers()[command]
    text = parser.format_help()
    assert "`" not in text
    assert parser.description, command
    for action in parser._actions:
        assert action.help, f"{command} {action.option_strings} has no help"


def test_root_help_in_plain_words() -> None:
    text = cli.parser().format_help()
    assert "`" not in text
    for command in ("login", "whoami", "status", "plants", "thermostats", "watch", "demo"):
        assert command in text


@pytest.mark.parametrize(
    "command", ["plants", "thermostats", "whoami", "status", "watch", "demo", "simulator"]
)
def test_every_command_that_prints_data_has_json(command: str) -> None:
    assert "--json" in _subparsers()[command].format_help()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["demo", "--per-second", "0"], "--per-second"),
        (["demo", "--faults", "2"], "--faults"),
        (["simulator", "--faults", "2"], "--faults"),
        (["watch", "--interval", "0"], "--interval"),
        (["watch", "--count", "0"], "--count"),
    ],
)
def test_argument_errors_name_the_flag_before_anything_starts(
    args: list[str], flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing_starts(*args: object, **kwargs: object) -> None:
        raise AssertionError("a simulator was built")

    monkeypatch.setattr("legrand_async.simulator.Simulator.fleet", nothing_starts)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"error: {flag} " in err or f"argument {flag}:" in err
    assert "per_second" not in err


def test_watch_runs_until_ctrl_c(login: Path, served: Served) -> None:
    """In a process of its own: lines as changes come, then Ctrl-C ends it, status 130, quietly."""
    watching = subprocess.Popen(
        [sys.executable, "-m", "legrand_async.cli", "watch", "--config", str(login)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watching.stdout is not None
        first = watching.stdout.readline()  # the first reading of a thermostat
        assert " thermostat " in first
        watching.send_signal(signal.SIGINT)
        out, err = watching.communicate(timeout=60)
    finally:
        watching.kill()
        watching.wait()
    assert watching.returncode == 130
    assert "Traceback" not in err
    assert all(" thermostat " in line for line in out.splitlines())


def test_simulator_json_is_what_a_client_needs() -> None:
    """``simulator --json``: one JSON object (base URL, the variables to export), then quiet."""
    serving = subprocess.Popen(
        [sys.executable, "-m", "legrand_async.cli", "simulator", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serving.stdout is not None
        facts = json.loads(serving.stdout.readline())
        variables = facts["environment"]
        assert variables["LEGRAND_BASE_URL"] == variables["LEGRAND_AUTH_URL"] == facts["base_url"]
        answer = httpx.get(
            f"{facts['base_url']}/smarther/v2.0/plants",
            headers={
                "Ocp-Apim-Subscription-Key": variables["LEGRAND_SUBSCRIPTION_KEY"],
                "Authorization": f"Bearer {variables['LEGRAND_ACCESS_TOKEN']}",
            },
        )
        assert answer.status_code == 200
        assert variables["LEGRAND_PLANT_ID"] in {plant["id"] for plant in answer.json()["plants"]}
        serving.send_signal(signal.SIGINT)
        out, err = serving.communicate(timeout=60)
    finally:
        serving.kill()
        serving.wait()
    assert serving.returncode == 0, err
    assert out == ""
