"""Token files under attack: odd things in place of the file, loose modes, leftovers, full and
read-only disks (a real tmpfs / read-only bind mount where the machine lets us mount; skipped
otherwise), and two OAuth2Auth on one file in one process (the lock file)."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import filelock
import httpx
import pytest
import respx

from legrand_async import (
    FileTokenStore,
    LegrandClient,
    LegrandError,
    OAuth2Auth,
    OAuthApp,
    RetryPolicy,
    Token,
    TokenRefreshTimeout,
    TokenStoreError,
)
from legrand_async._auth import store as store_module

from .conftest import KEY, PLANT, PLANTS_URL, TOKEN_URL, FakeClock, wire
from .disks import fill, mount, read_only_view, tmpfs

AT1, RT1 = "AT-files-one-aa11", "RT-files-one-bb22"
AT2, RT2 = "AT-files-two-cc33", "RT-files-two-dd44"
SECRET = "SECRET-files-ee55"


def no_secret(text: str) -> None:
    for secret in (AT1, RT1, AT2, RT2, SECRET, KEY):
        assert secret not in text


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def app(clock: FakeClock) -> OAuthApp:
    return OAuthApp(
        "client-files", SECRET, "https://app.example.org/cb", clock=clock, transport=wire()
    )


def rotating(router: respx.MockRouter) -> respx.Route:
    """A token endpoint that rotates RT1 into RT2 once (RT1 is revoked after its first use)."""
    spent: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        sent = request.content.decode()
        if f"refresh_token={RT1}" not in sent or RT1 in spent:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "x"})
        spent.add(RT1)
        return httpx.Response(
            200, json={"access_token": AT2, "refresh_token": RT2, "expires_in": 3600}
        )

    return router.post(TOKEN_URL).mock(side_effect=answer)


def plants_ok(router: respx.MockRouter) -> respx.Route:
    return router.get(PLANTS_URL).respond(200, json={"plants": [{"id": PLANT, "name": "x"}]})


@asynccontextmanager
async def client(auth: OAuth2Auth, clock: FakeClock, **kwargs: Any) -> AsyncIterator[LegrandClient]:
    async with LegrandClient(
        KEY,
        auth=auth,
        transport=wire(),
        clock=clock,
        retry=RetryPolicy(jitter=0),
        rng=random.Random(0),
        **kwargs,
    ) as c:
        yield c


def expired(clock: FakeClock) -> Token:
    return Token(AT1, RT1, clock.now() - timedelta(seconds=1))


# --------------------------------------------------------------------------------------------
# Odd things in place of the token file


def _big_valid_token(clock: FakeClock) -> bytes:
    text = json.dumps(expired(clock).to_json())
    return text.encode() + b" " * (1024 * 1024 + 1 - len(text))  # valid JSON, 1 MiB + 1 byte


def _place(path: Path, kind: str, clock: FakeClock) -> None:
    if kind == "directory":
        path.mkdir()
    elif kind == "over-1-MiB":
        path.write_bytes(_big_valid_token(clock))
    elif kind == "sparse-64-MiB":
        with path.open("wb") as file:
            file.truncate(64 * 1024 * 1024)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "not-utf8":
        path.write_bytes(b"\xff\xfe{\x00}")
    elif kind == "not-json":
        path.write_text(f"access_token={AT1}")
    elif kind == "nested":
        path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    elif kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")  # endless: must not be read
    elif kind == "symlink-to-huge":
        huge = path.with_name("huge.bin")
        with huge.open("wb") as file:
            file.truncate(2**31)
        path.symlink_to(huge)
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "unix-socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:  # JSON of the wrong shape
        good = expired(clock).to_json()
        path.write_text(json.dumps(WRONG_SHAPES[kind](good)))


WRONG_SHAPES: dict[str, Any] = {
    "json-list": lambda good: [good],
    "json-null": lambda good: None,
    "missing-keys": lambda good: {"access_token": good["access_token"]},
    "naive-expiry": lambda good: {**good, "expires_at": "2026-11-21T12:00:00"},
    "expiry-out-of-range": lambda good: {**good, "expires_at": "9999-12-31T23:59:59-14:00"},
    "expiry-a-number": lambda good: {**good, "expires_at": 1_790_000_000},
    "token-a-list": lambda good: {**good, "refresh_token": [good["refresh_token"]]},
    "scope-a-number": lambda good: {**good, "scope": 7},
}
KINDS = ["directory", "over-1-MiB", "sparse-64-MiB", "fifo", "not-utf8", "not-json", "nested"]
KINDS += ["symlink-to-dev-zero", "symlink-to-huge", "symlink-loop", "unix-socket", *WRONG_SHAPES]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.asyncio
async def test_an_odd_token_file_raises_the_documented_error(
    tmp_path: Path, clock: FakeClock, kind: str
) -> None:
    path = tmp_path / "token.json"
    _place(path, kind, clock)
    store = FileTokenStore(path)
    with pytest.raises(TokenStoreError) as sync_info:
        store.load_sync()
    with pytest.raises(TokenStoreError) as async_info:
        await store.load()
    for info in (sync_info, async_info):
        assert isinstance(info.value, LegrandError)
        assert str(path) in str(info.value)
        no_secret(str(info.value))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.asyncio
async def test_a_data_call_fails_with_that_error(
    tmp_path: Path, clock: FakeClock, app: OAuthApp, router: respx.MockRouter, kind: str
) -> None:
    path = tmp_path / "token.json"
    _place(path, kind, clock)
    data = plants_ok(router)
    async with client(OAuth2Auth(app, FileTokenStore(path)), clock) as c:
        with pytest.raises(TokenStoreError):
            await c.smarther.list_plants()
    assert data.call_count == 0


@pytest.mark.asyncio
async def test_a_broken_file_under_a_live_login_is_repaired_by_the_next_save(
    tmp_path: Path, clock: FakeClock, app: OAuthApp, router: respx.MockRouter
) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    store.save_sync(Token(AT1, RT1, clock.now() + timedelta(seconds=600)))
    rotating(router)
    plants_ok(router)
    auth = OAuth2Auth(app, store)
    async with client(auth, clock) as c:
        await c.smarther.list_plants()
        path.write_bytes(b"\x00garbage")  # the file breaks while we hold a good token
        clock.advance(600)
        await c.smarther.list_plants()  # refreshed with the token in memory
    assert isinstance(auth.store_error, type(None))
    assert store.load_sync().refresh_token == RT2  # type: ignore[union-attr]


def test_a_token_file_written_with_a_bom_is_read(tmp_path: Path, clock: FakeClock) -> None:
    """A byte order mark (Notepad's UTF-8) is not a broken file."""
    path = tmp_path / "token.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(expired(clock).to_json()).encode())
    assert FileTokenStore(path).load_sync() == expired(clock)


# --------------------------------------------------------------------------------------------
# Modes and leftovers


@pytest.mark.asyncio
async def test_a_token_file_others_can_read_is_warned_about_once_then_written_0600(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token.json"
    path.write_text(json.dumps(Token(AT1, RT1, clock.now()).to_json()))
    path.chmod(0o644)
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        for _ in range(3):
            assert await store.load() is not None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert "644" in warnings[0].getMessage()
    no_secret(caplog.text)
    await store.save(Token(AT2, RT2, clock.now()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_interrupted_writes_are_removed_by_the_next_save(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "token.json"
    legacy = tmp_path / ".token.json.k3j9x_q1.tmp"  # an earlier version's mkstemp name
    dead = tmp_path / f".token.json.{_dead_pid()}.a1b2c3.tmp"  # its writer was killed
    ours = tmp_path / f".token.json.{os.getpid()}.zz9zz9.tmp"  # this process, not writing it
    live = tmp_path / f".token.json.{os.getppid()}.d4e5f6.tmp"  # a live writer's: kept
    stale = tmp_path / f".token.json.{os.getppid()}.g7h8i9.tmp"  # live pid, but hours old
    other = tmp_path / ".config.json.1.abc.tmp"  # another file's: not ours to touch
    for leftover in (legacy, dead, ours, live, stale, other):
        leftover.write_bytes(json.dumps(Token(AT1, RT1, clock.now()).to_json()).encode())
    hours_ago = time.time() - 7200
    os.utime(stale, (hours_ago, hours_ago))
    FileTokenStore(path).save_sync(Token(AT2, RT2, clock.now()))
    assert names(tmp_path) == sorted(["token.json", live.name, other.name])


def test_leftovers_are_looked_for_once_per_store_not_on_every_save(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    store.save_sync(Token(AT1, RT1, clock.now()))
    dead = tmp_path / f".token.json.{_dead_pid()}.a1b2c3.tmp"  # appears after the first save
    dead.write_bytes(b"{}")
    store.save_sync(Token(AT2, RT2, clock.now()))  # no directory scan on every save
    assert names(tmp_path) == sorted(["token.json", dead.name])
    FileTokenStore(path).save_sync(Token(AT2, RT2, clock.now()))  # a new store: its first save
    assert names(tmp_path) == ["token.json"]


# --------------------------------------------------------------------------------------------
# Full and read-only disks (real mounts)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small") as point:
        yield point


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``(writable source, read-only bind mount of it)``."""
    source = tmp_path / "source"
    source.mkdir()
    with read_only_view(source, tmp_path / "view") as view:
        yield source, view


@pytest.mark.asyncio
async def test_a_full_disk_during_a_refresh_loses_nothing(
    small_disk: Path,
    clock: FakeClock,
    app: OAuthApp,
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = small_disk / "token.json"
    store = FileTokenStore(path)
    store.save_sync(expired(clock))
    filler = fill(small_disk)
    refresh = rotating(router)
    data = plants_ok(router)
    auth = OAuth2Auth(app, store)
    async with client(auth, clock) as c:
        await c.smarther.list_plants()  # works: the new token is used from memory
        assert isinstance(auth.store_error, OSError)
        assert auth.store_error.errno == errno.ENOSPC
        assert store.load_sync() == expired(clock)  # the old file is intact
        filler.unlink()
        clock.advance(61)
        await c.smarther.list_plants()  # ... and written by the next save
    assert auth.store_error is None
    assert store.load_sync().refresh_token == RT2  # type: ignore[union-attr]
    assert refresh.call_count == 1
    assert [call.request.headers["Authorization"] for call in data.calls] == [f"Bearer {AT2}"] * 2
    assert [n for n in names(small_disk) if n.endswith(".tmp")] == []
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    no_secret(caplog.text)


@pytest.mark.asyncio
async def test_a_read_only_directory_during_a_refresh_loses_nothing(
    read_only_dir: tuple[Path, Path],
    clock: FakeClock,
    app: OAuthApp,
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, view = read_only_dir
    FileTokenStore(source / "token.json").save_sync(expired(clock))
    store = FileTokenStore(view / "token.json")
    refresh = rotating(router)
    plants_ok(router)
    auth = OAuth2Auth(app, store)
    async with client(auth, clock) as c:
        await c.smarther.list_plants()
        assert isinstance(auth.store_error, OSError)
        assert auth.store_error.errno == errno.EROFS
        assert mount("-o", "remount,bind,rw", str(view))
        clock.advance(61)
        await c.smarther.list_plants()
    assert auth.store_error is None
    assert store.load_sync().refresh_token == RT2  # type: ignore[union-attr]
    assert refresh.call_count == 1
    assert "Read-only file system" in caplog.text
    no_secret(caplog.text)


# --------------------------------------------------------------------------------------------
# Two OAuth2Auth on one file in one process; the lock is bounded and off the event loop


@pytest.mark.parametrize("one_store", [True, False], ids=["one-store", "two-stores"])
@pytest.mark.asyncio
async def test_two_auths_on_one_token_file_refresh_once(
    one_store: bool,
    tmp_path: Path,
    clock: FakeClock,
    app: OAuthApp,
    router: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "token.json"
    FileTokenStore(path).save_sync(expired(clock))
    waiting = threading.Event()
    acquire = getattr(store_module, "_acquire", None)

    def watched(lock: filelock.FileLock, wait: float) -> bool:
        got = bool(acquire and acquire(lock, wait))
        if not got:
            waiting.set()  # the second auth is waiting for the first one's lock
        return got

    monkeypatch.setattr(store_module, "_acquire", watched, raising=False)
    gate = anyio.Event()
    spent: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        spent.append(request.content.decode())
        await gate.wait()
        if len(spent) > 1:
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(
            200, json={"access_token": AT2, "refresh_token": RT2, "expires_in": 3600}
        )

    router.post(TOKEN_URL).mock(side_effect=answer)
    data = plants_ok(router)
    shared = FileTokenStore(path)
    first = OAuth2Auth(app, shared)
    second = OAuth2Auth(app, shared if one_store else FileTokenStore(path))
    async with (
        client(first, clock) as a,
        client(second, clock) as b,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(a.smarther.list_plants)
        tg.start_soon(b.smarther.list_plants)
        with anyio.fail_after(10):
            while not (waiting.is_set() or len(spent) > 1):  # noqa: ASYNC110 - a thread sets it
                await anyio.sleep(0.01)
        gate.set()
    assert len(spent) == 1
    assert [call.request.headers["Authorization"] for call in data.calls] == [f"Bearer {AT2}"] * 2
    assert FileTokenStore(path).load_sync().refresh_token == RT2  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_held_lock_bounds_the_wait_and_leaves_the_loop_free(
    tmp_path: Path, clock: FakeClock, app: OAuthApp, router: respx.MockRouter
) -> None:
    path = tmp_path / "token.json"
    FileTokenStore(path).save_sync(expired(clock))
    rotating(router)
    plants_ok(router)
    held = filelock.FileLock(str(path) + ".lock", thread_local=False)
    held.acquire()  # another process is refreshing (and takes its time)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    auth = OAuth2Auth(app, FileTokenStore(path))
    try:
        async with client(auth, clock, timeout=0.3) as c, anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            started = time.monotonic()
            with pytest.raises(TokenRefreshTimeout):
                await c.smarther.list_plants()
            waited = time.monotonic() - started
            tg.cancel_scope.cancel()
    finally:
        held.release()
    assert 0.25 <= waited < 2
    assert ticks >= 5  # the event loop ran on while the lock was waited for
    async with client(auth, clock, timeout=0.3) as c:  # the next call tries again
        assert [p.id for p in await c.smarther.list_plants()] == [PLANT]


def test_the_locked_refresh_runs_under_trio(tmp_path: Path, clock: FakeClock) -> None:
    """anyio only: the lock file, the worker threads and the shield work under trio too."""
    path = tmp_path / "token.json"
    FileTokenStore(path).save_sync(expired(clock))

    async def main() -> list[str]:
        with respx.mock(assert_all_called=False) as router:
            rotating(router)
            plants_ok(router)
            app = OAuthApp("client-trio", SECRET, "https://app.example.org/cb", clock=clock)
            async with client(OAuth2Auth(app, FileTokenStore(path)), clock) as c:
                return [plant.id for plant in await c.smarther.list_plants()]

    assert anyio.run(main, backend="trio") == [PLANT]
    assert FileTokenStore(path).load_sync().refresh_token == RT2  # type: ignore[union-attr]
    assert names(tmp_path) == ["token.json", "token.json.lock"]
