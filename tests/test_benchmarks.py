"""Every benchmark still runs to its verdict (tiny sizes; the timing aims are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

RUNS = {
    "fleet_scale.py": (
        ["--plants", "20", "--per-plant", "2", "--cycles", "1", "--rounds", "1"],
        "scheduler CPU per poll",
    ),
    "freshness.py": (
        ["--thermostats", "10", "--plants", "2", "--budget", "100", "--hours", "12"],
        "verdict:",
    ),
    "overhead.py": (
        ["--calls", "40", "--concurrency", "5", "--rounds", "1", "--block", "20"],
        "aim sequential",
    ),
    "quota.py": (
        [
            "--seconds",
            "0.5",
            "--warm-up",
            "0",
            "--thermostats",
            "20",
            "--workers",
            "4",
            "--acquire-seconds",
            "0.2",
        ],
        "acquire result",
    ),
    "shared_quota.py": (
        [
            "--processes",
            "2",
            "--tasks",
            "2",
            "--per-second",
            "5",
            "--seconds",
            "1",
            "--acquires",
            "20",
        ],
        "achieved/limit",
    ),
    "webhook_ack.py": (["--requests", "5", "--rounds", "1"], "new connections"),
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_benchmark_runs_to_its_verdict(script: str) -> None:
    args, verdict = RUNS[script]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), (done.returncode, done.stdout, done.stderr)
    assert verdict in done.stdout, done.stdout
    # an aim missed at these sizes exits 1 and says which
    assert (
        done.returncode == 0
        or "MISSED" in done.stdout + done.stderr
        or ("aim missed" in done.stdout + done.stderr)
    ), done.stdout + done.stderr
