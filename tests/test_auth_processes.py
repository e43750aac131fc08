"""Several processes on one token file refresh once per expiry (real subprocesses, a real
loopback server: the simulator served by uvicorn, whose OAuth server rotates refresh tokens)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

import legrand_async
from legrand_async import FileTokenStore, LegrandClient, OAuth2Auth, OAuthApp, Token
from legrand_async.simulator import Simulator

from ._auth_sim import expired_login

#: One process of the user's: its own OAuth2Auth on the shared token file.
CHILD = r"""
import asyncio, hashlib, sys
from legrand_async import FileTokenStore, LegrandClient, OAuth2Auth, OAuthApp

base, key, client_id, secret, redirect, path = sys.argv[1:7]


async def main() -> None:
    app = OAuthApp(client_id, secret, redirect, auth_url=base)
    auth = OAuth2Auth(app, FileTokenStore(path))
    async with LegrandClient(key, auth=auth, base_url=base, rate_limit=None) as client:
        print("ready", flush=True)
        sys.stdin.readline()  # all processes start at once
        plants = await client.smarther.list_plants()
        token = await auth.token()
    digest = hashlib.sha256(token.access_token.encode()).hexdigest()[:16]
    print("ok", len(plants), digest, flush=True)


asyncio.run(main())
"""


def slow_token_endpoint(sim: Simulator, delay: float) -> list[str]:
    """Make the served app answer ``/token`` after ``delay`` s; the list of calls it got."""
    calls: list[str] = []
    inner = sim.app.asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/token":
            calls.append(scope["method"])
            await asyncio.sleep(delay)  # the server side of the test: a slow sign-in service
        await inner(scope, receive, send)

    sim.app.asgi = app  # type: ignore[assignment]
    return calls


async def start_child(sim: Simulator, base: str, path: Path) -> asyncio.subprocess.Process:
    """A process of the user's (CHILD) against the served simulator, on the token file."""
    here = str(Path(legrand_async.__file__).parents[1])  # the child imports this package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    args = (base, sim.subscription_key, sim.client_id, sim.client_secret, sim.redirect_uri)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        *args,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def run_together(children: list[asyncio.subprocess.Process]) -> list[tuple[bytes, bytes]]:
    """Wait until every child is ready, let them go at once; their (stdout, stderr)."""
    try:
        for child in children:
            assert child.stdout is not None
            ready = await asyncio.wait_for(child.stdout.readline(), 60)
            assert ready.strip() == b"ready", ready
        return await asyncio.wait_for(
            asyncio.gather(*(child.communicate(b"go\n") for child in children)), 60
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()


def check_refreshed_once(
    children: list[asyncio.subprocess.Process],
    outputs: list[tuple[bytes, bytes]],
    login: Token,
    stored: Token | None,
    sim: Simulator,
) -> None:
    """Every child listed 2 plants with the one rotated token ``stored`` holds, and no child
    showed the old refresh token."""
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode()[-2000:]
        assert login.refresh_token.encode() not in out + err
    lines = [out.decode().split() for out, _ in outputs]
    assert [line[:2] for line in lines] == [["ok", "2"]] * len(children)
    assert stored is not None
    assert stored.refresh_token in sim.app.refresh  # the store holds the live, rotated login
    digest = hashlib.sha256(stored.access_token.encode()).hexdigest()[:16]
    assert {line[2] for line in lines} == {digest}  # every process uses the rotated token


@pytest.mark.asyncio
async def test_processes_sharing_a_token_file_refresh_once(tmp_path: Path) -> None:
    sim = Simulator.fleet(plants=2, thermostats_per_plant=1)  # real clock: real processes
    token_calls = slow_token_endpoint(sim, 0.3)
    path = tmp_path / "token.json"
    login = expired_login(sim)
    FileTokenStore(path).save_sync(login)
    async with sim.serve() as base:
        children = [await start_child(sim, base, path) for _ in range(3)]
        outputs = await run_together(children)
    check_refreshed_once(children, outputs, login, FileTokenStore(path).load_sync(), sim)
    assert token_calls == ["POST"]  # one refresh for the three processes


def held_first_token_call(sim: Simulator) -> tuple[asyncio.Event, asyncio.Event]:
    """The served app's first ``/token`` call waits for ``release`` (``arrived`` tells it
    came), then fails without touching the login; later calls go through."""
    arrived, release = asyncio.Event(), asyncio.Event()
    inner = sim.app.asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/token" and not arrived.is_set():
            arrived.set()
            await release.wait()
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await inner(scope, receive, send)

    sim.app.asgi = app  # type: ignore[assignment]
    return arrived, release


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
@pytest.mark.asyncio
async def test_a_process_killed_holding_the_lock_does_not_wedge_the_next_one(
    tmp_path: Path,
) -> None:
    """A process is SIGKILLed in the middle of its refresh, holding ``token.json.lock``; the
    lock file stays behind, but the next process takes the lock at once and refreshes."""
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1)
    arrived, release = held_first_token_call(sim)
    path = tmp_path / "token.json"
    login = expired_login(sim)
    FileTokenStore(path).save_sync(login)
    async with sim.serve() as base:
        child = await start_child(sim, base, path)
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            ready = await asyncio.wait_for(child.stdout.readline(), 60)
            assert ready.strip() == b"ready", ready
            child.stdin.write(b"go\n")
            await asyncio.wait_for(arrived.wait(), 60)  # it holds the lock, its refresh is out
        finally:
            child.kill()
            await child.wait()
            release.set()
        assert (tmp_path / "token.json.lock").exists()
        app = OAuthApp(sim.client_id, sim.client_secret, sim.redirect_uri, auth_url=base)
        auth = OAuth2Auth(app, FileTokenStore(path))
        async with LegrandClient(
            sim.subscription_key, auth=auth, base_url=base, rate_limit=None
        ) as client:
            with anyio.fail_after(10):  # not LOCK_WAIT (60 s): the dead holder's lock is gone
                assert len(await client.smarther.list_plants()) == 1
    stored = FileTokenStore(path).load_sync()
    assert stored is not None
    assert stored.refresh_token in sim.app.refresh
