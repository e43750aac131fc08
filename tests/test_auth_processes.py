"""Several processes on one token file refresh once per expiry (real subprocesses, a real
loopback server: the simulator served by uvicorn, whose OAuth server rotates refresh tokens)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import legrand_async
from legrand_async import FileTokenStore
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


@pytest.mark.asyncio
async def test_processes_sharing_a_token_file_refresh_once(tmp_path: Path) -> None:
    sim = Simulator.fleet(plants=2, thermostats_per_plant=1)  # real clock: real processes
    token_calls = slow_token_endpoint(sim, 0.3)
    path = tmp_path / "token.json"
    login = expired_login(sim)
    FileTokenStore(path).save_sync(login)
    here = str(Path(legrand_async.__file__).parents[1])  # the children import this package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    async with sim.serve() as base:
        args = (base, sim.subscription_key, sim.client_id, sim.client_secret, sim.redirect_uri)
        children = [
            await asyncio.create_subprocess_exec(
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
            for _ in range(3)
        ]
        try:
            for child in children:
                assert child.stdout is not None
                ready = await asyncio.wait_for(child.stdout.readline(), 60)
                assert ready.strip() == b"ready", ready
            outputs = await asyncio.wait_for(
                asyncio.gather(*(child.communicate(b"go\n") for child in children)), 60
            )
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode()[-2000:]
        assert login.refresh_token.encode() not in out + err
    lines = [out.decode().split() for out, _ in outputs]
    assert [line[:2] for line in lines] == [["ok", "2"]] * 3
    assert token_calls == ["POST"]  # one refresh for the three processes
    stored = FileTokenStore(path).load_sync()
    assert stored is not None
    assert stored.refresh_token in sim.app.refresh  # the file holds the live, rotated login
    digest = hashlib.sha256(stored.access_token.encode()).hexdigest()[:16]
    assert {line[2] for line in lines} == {digest}  # every process uses the rotated token
