"""``legrand-async login --import`` of config.yaml files an attacker or an accident made: YAML
that does not parse (reported by file, line and column, never content), an alias bomb, lists
where a value belongs, a directory, a FIFO or a huge file in place of the file, and secrets a
header cannot carry. Each exits with status 1, shows no secret and saves nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import legrand_async
from legrand_async.cli import main

CLIENT_SECRET = "SECRET-client-9e9e"
KEY = "SECRET-key-7a7a"
ACCESS, REFRESH = "SECRET-access-5c5c", "SECRET-refresh-3b3b"
SECRETS = (CLIENT_SECRET, KEY, ACCESS, REFRESH)


def seed(**overrides: str) -> str:
    lines = {
        "client_id": "client-cli-1",
        "client_secret": CLIENT_SECRET,
        "redirect_uri": "https://www.example.com/callback/",
        "Ocp-Apim-Subscription-Key": KEY,
        "access_token": f"Bearer {ACCESS}",
        "refresh_token": REFRESH,
        "access_token_expires_on": "1900000000",
        **overrides,
    }
    return "".join(f"{key}: {value}\n" for key, value in lines.items())


def login(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``login --import path``: asserts status 1, nothing saved, no secret shown; stderr."""
    target = tmp_path / "saved"
    assert main(["login", "--config", str(target), "--import", str(path)]) == 1
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out + err
    assert not target.exists()
    return err


BROKEN = {
    # content, and the line the error is on (each holds a secret)
    "undefined-alias": (seed(client_secret=f"*{CLIENT_SECRET}"), 2),
    "duplicate-anchor-use": (seed(refresh_token=f"&a {REFRESH}\nx: &a *a"), 7),
    "unclosed-quote": (seed(client_secret=f'"{CLIENT_SECRET}\n  - [{KEY}'), 9),  # at the end
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_yaml_that_does_not_parse_is_reported_by_line_and_column_only(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, line = BROKEN[name]
    path = tmp_path / "config.yaml"
    path.write_text(content)
    err = login(path, tmp_path, capsys)
    assert f"{path} is not valid YAML" in err
    match = re.search(r"line (\d+), column (\d+)", err)
    assert match, err
    assert abs(int(match.group(1)) - line) <= 1, err
    assert "client-cli-1" not in err  # nothing of the content at all


def test_values_are_kept_as_written_and_tags_build_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """YAML's implicit types would turn a secret 0777 into 511, 1_000 into 1000, yes into
    True; a tag must not construct anything. Each value is the text written."""
    path = tmp_path / "config.yaml"
    path.write_text(
        seed(
            client_secret="0777",
            refresh_token="1_000",
            **{"Ocp-Apim-Subscription-Key": "!!python/object/apply:os.getpid yes"},
        )
    )
    target = tmp_path / "saved"
    assert main(["login", "--config", str(target), "--import", str(path)]) == 0
    capsys.readouterr()
    config = json.loads((target / "config.json").read_text())
    assert (config["client_secret"], config["subscription_key"]) == ("0777", "yes")
    assert json.loads((target / "token.json").read_text())["refresh_token"] == "1_000"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\ufffe"])
def test_a_character_yaml_refuses_is_reported_by_position_only(
    char: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(seed(client_secret=f"{CLIENT_SECRET}{char}tail"))
    err = login(path, tmp_path, capsys)
    assert re.search(r"not valid YAML at (character \d+|line \d+, column \d+)", err), err


def test_a_file_that_is_not_utf8_is_reported_by_byte_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(seed(client_secret=f"{CLIENT_SECRET}\xe9").encode("latin-1"))
    assert "is not UTF-8 text (byte" in login(path, tmp_path, capsys)


def test_an_alias_bomb_is_refused_without_expanding_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Six levels of nine aliases: 531441 strings to print (nine levels would take minutes)."""
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 6):
        here, below = chr(ord("a") + i), chr(ord("a") + i - 1)
        levels.append(f"{here}: &{here} [{', '.join([f'*{below}'] * 9)}]")
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(levels) + "\n" + seed(client_id="*f"))
    assert "client_id is not a single value" in login(path, tmp_path, capsys)


@pytest.mark.parametrize("key", ["client_secret", "Ocp-Apim-Subscription-Key", "access_token"])
def test_a_list_or_mapping_where_a_value_belongs_is_refused_by_name(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(seed(**{key: f"{{nested: [{CLIENT_SECRET}, {KEY}]}}"}))
    assert f"{key} is not a single value" in login(path, tmp_path, capsys)


def test_a_directory_or_a_huge_file_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    assert "is a directory" in login(directory, tmp_path, capsys).lower()
    huge = tmp_path / "huge.yaml"
    huge.write_text(seed() + "#" * (1024 * 1024))
    assert "larger than" in login(huge, tmp_path, capsys)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_instead_of_waiting_forever(tmp_path: Path) -> None:
    """A real process: reading a FIFO nobody writes to would block it for ever."""
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    here = str(Path(legrand_async.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "legrand_async.cli", "login", "--import", str(fifo)]
    done = subprocess.run(
        [*command, "--config", str(tmp_path / "saved")],
        capture_output=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 1
    assert b"is not a regular file" in done.stderr


@pytest.mark.parametrize("key", ["\u00e9", "\r\n", "\u2028"])
def test_a_subscription_key_a_header_cannot_carry_is_refused_before_saving(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, it was saved, and every later ``plants`` failed on it."""
    target = tmp_path / "saved"
    flags = ["--client-id", "client-cli-1", "--client-secret", CLIENT_SECRET]
    flags += ["--redirect-uri", "https://www.example.com/callback/"]
    flags += ["--subscription-key", f"{KEY}{key}tail"]
    assert main(["login", "--config", str(target), *flags]) == 1
    out, err = capsys.readouterr()
    assert "subscription_key contains" in err
    assert KEY not in out + err
    assert not (target / "config.json").exists()
