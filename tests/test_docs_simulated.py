"""Every ```python block of docs/*.md runs as written against ``legrand-async simulator``.

tests/test_docs.py runs the blocks against a mocked cloud; here a simulator serves on a
loopback port, as the quickstart tells a new user to start it, and the environment holds what
the quickstart tells them to export (``LEGRAND_BASE_URL``, ``LEGRAND_AUTH_URL``, the key, a token
and the ids the simulator printed). A block that ignored ``LEGRAND_BASE_URL`` would reach for the
real cloud and fail. The simulator runs in a thread of its own (each block calls
``asyncio.run``), on the real clock but with no faults and no limits, so nothing waits.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from legrand_async import FileTokenStore
from legrand_async.simulator import Simulator
from legrand_async.simulator._cli import environment

from .test_docs import BLOCKS, Block, _run, _simulated, record_authorization_urls

#: Pages whose examples do not run against the simulator yet (none).
NOT_YET: set[str] = set()
LIVE = [b for b in BLOCKS if not _simulated(b) and b.path.name not in NOT_YET]


class Served:
    """A simulator serving on a loopback port from a thread with its own event loop."""

    def __init__(self) -> None:
        self.sim = Simulator.fleet(plants=2, thermostats_per_plant=2, seed=0)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.sim.serve() as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Served:
        self._thread.start()
        assert self._ready.wait(30), "the simulator did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()

    def sign_in(self, token_file: Path) -> None:
        """A saved login in ``token_file``, as ``legrand-async login`` leaves one."""
        app = self.sim.oauth_app(transport=None, auth_url=self.url)
        future = asyncio.run_coroutine_threadsafe(self.sim.sign_in(app), self._loop)
        FileTokenStore(token_file).save_sync(future.result(30))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served() as served:
        yield served


@pytest.fixture
def simulator_env(served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Served:
    sim = served.sim
    # What `legrand-async simulator` prints to export, and the token file of a login.
    variables = dict(environment(sim, served.url, sim.access_token()))
    variables["LEGRAND_TOKEN_FILE"] = str(tmp_path / "token.json")
    assert {name for b in LIVE for name in re.findall(r"LEGRAND_\w+", b.source)} <= set(variables)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    served.sign_in(tmp_path / "token.json")

    sent = record_authorization_urls(monkeypatch)

    def paste(prompt: str = "") -> str:
        """The sign-in example's input(): the simulator consents at once; where it sent us."""
        return httpx.get(sent[-1][0], follow_redirects=False).headers["location"]

    monkeypatch.setattr("builtins.input", paste)
    return served


def test_every_page_with_examples_is_run_live() -> None:
    pages = {b.path.name for b in BLOCKS if not _simulated(b)} - NOT_YET
    assert pages == {b.path.name for b in LIVE}
    assert {"quickstart.md", "smarther.md", "authentication.md"} <= pages


@pytest.mark.parametrize("block", LIVE, ids=[block.id for block in LIVE])
def test_block_runs_against_the_simulator(block: Block, simulator_env: Served) -> None:
    before = simulator_env.sim.calls_today
    _run(block)
    assert simulator_env.sim.calls_today > before, "the example made no call to the simulator"


@pytest.mark.parametrize("block", LIVE, ids=[block.id for block in LIVE])
def test_block_reads_the_base_url(block: Block) -> None:
    """A block that makes a client says where from; one that signs in says where too."""
    if "LegrandClient(" in block.source:
        assert 'os.environ.get("LEGRAND_BASE_URL"' in block.source
        assert "base_url=" in block.source
    if "OAuthApp(" in block.source:
        assert re.search(r'auth_url=os\.environ\.get\("LEGRAND_AUTH_URL"', block.source)
