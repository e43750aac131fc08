"""A fresh project that installs the plugin: with the pyproject.toml lines docs/testing.md gives,
pytest runs the plugin's fixtures without any warning (pytest-asyncio's included).

pytest runs in a subprocess, in an empty directory, so that this repository's own pytest
settings are not in play; the plugin is loaded through its entry point, as in any project.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs" / "testing.md"

TEST_FILE = """\
import pytest


@pytest.mark.asyncio
async def test_plants(legrand_client):
    assert await legrand_client.smarther.list_plants()


def test_simulator(legrand_simulator, legrand_clock):
    assert legrand_simulator.plants
"""


def _documented_pyproject() -> str:
    """The ```toml block of the "Configure pytest-asyncio" section."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Configure pytest-asyncio") :]
    match = re.search(r"^```toml\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match, "docs/testing.md shows no pyproject.toml lines"
    return match.group(1)


def _pytest(project: Path) -> subprocess.CompletedProcess[str]:
    (project / "test_bot.py").write_text(TEST_FILE, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rw", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


def test_the_documented_settings_leave_no_warning(tmp_path: Path) -> None:
    pytest.importorskip("pytest_asyncio")
    (tmp_path / "pyproject.toml").write_text(_documented_pyproject(), encoding="utf-8")

    done = _pytest(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "warning" not in (done.stdout + done.stderr).lower()


def test_without_them_the_only_warning_is_pytest_asyncios(tmp_path: Path) -> None:
    """What the page explains: unset, pytest-asyncio warns about its option; nothing else does."""
    pytest.importorskip("pytest_asyncio")

    done = _pytest(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    warnings = re.findall(r"(\w+Warning): (.*)", done.stdout + done.stderr)
    for kind, message in warnings:
        assert kind == "PytestDeprecationWarning", (kind, message)
        assert "asyncio_default_fixture_loop_scope" in message
