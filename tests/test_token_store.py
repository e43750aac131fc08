"""Token stores: the TokenStore protocol, MemoryTokenStore, and the crash-safe FileTokenStore.

The file store's promise is that a crash at any instant leaves either the old or the new token,
never a broken file, readable by its owner only. The last test checks it the hard way: a child
process saving tokens in a tight loop is killed with SIGKILL at random instants, 50 times over.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import select
import signal
import stat
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from legrand_async import (
    FileTokenStore,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    Token,
    TokenStore,
)

from .conftest import FakeClock

ACCESS = "AT-secret-4b1f0c9e"
REFRESH = "RT-secret-77a2d3e5"
EXPIRES = datetime(2030, 5, 17, 8, 30, 15, 123456, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


def make_token(n: int = 0, *, scope: str | None = "comfort.read comfort.write") -> Token:
    return Token(f"{ACCESS}-{n}", f"{REFRESH}-{n}", EXPIRES + timedelta(seconds=n), scope)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def temp_files(directory: Path) -> list[str]:
    """What a save may leave behind: ``.<name>.*.tmp`` (mkstemp in the store's directory)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into {text!r}"


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


# --------------------------------------------------------------------------------------------
# Token


def test_token_fields() -> None:
    token = Token(ACCESS, REFRESH, EXPIRES)
    assert token.access_token == ACCESS
    assert token.refresh_token == REFRESH
    assert token.expires_at == EXPIRES
    assert token.scope is None
    assert token == Token(ACCESS, REFRESH, EXPIRES)
    assert token != Token(ACCESS, REFRESH, EXPIRES, "comfort.read")


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_token_rejects_empty_or_non_string_access_token(bad: Any) -> None:
    with pytest.raises(ValueError, match="access_token"):
        Token(bad, REFRESH, EXPIRES)


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_token_rejects_empty_or_non_string_refresh_token(bad: Any) -> None:
    with pytest.raises(ValueError, match="refresh_token") as info:
        Token(ACCESS, bad, EXPIRES)
    assert_no_secret(str(info.value), ACCESS)


def test_token_rejects_naive_expires_at() -> None:
    with pytest.raises(ValueError, match="expires_at") as info:
        Token(ACCESS, REFRESH, datetime(2030, 1, 1, 12, 0))  # naive on purpose
    assert_no_secret(str(info.value), ACCESS, REFRESH)


@pytest.mark.parametrize("bad", ["2030-01-01T00:00:00+00:00", 1893456000, None])
def test_token_rejects_non_datetime_expires_at(bad: Any) -> None:
    with pytest.raises(ValueError, match="expires_at"):
        Token(ACCESS, REFRESH, bad)


def test_token_converts_aware_non_utc_expires_at_to_utc() -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2030, 6, 1, 14, 0, tzinfo=paris)
    token = Token(ACCESS, REFRESH, local)
    assert token.expires_at == local  # the same instant
    assert token.expires_at.utcoffset() == timedelta(0)
    assert token.expires_at.tzinfo is UTC
    assert token.expires_at == datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def test_token_is_frozen() -> None:
    token = make_token()
    with pytest.raises(AttributeError):
        token.access_token = "other"  # type: ignore[misc]


def test_token_repr_and_str_redact_both_tokens() -> None:
    token = Token(ACCESS, REFRESH, EXPIRES, "comfort.read")
    for text in (repr(token), str(token), f"{token}", f"{token!r}", repr([token])):
        assert_no_secret(text, ACCESS, REFRESH)
        assert "***" in text
    assert "2030-05-17T08:30:15.123456+00:00" in repr(token)
    assert "comfort.read" in repr(token)


def test_token_json_round_trip() -> None:
    for token in (make_token(), make_token(scope=None), make_token(7, scope="")):
        data = token.to_json()
        assert Token.from_json(data) == token
        # ... through real JSON text too.
        assert Token.from_json(json.loads(json.dumps(data))) == token


def test_token_to_json_shape() -> None:
    data = make_token(scope="comfort.read").to_json()
    assert data == {
        "access_token": f"{ACCESS}-0",
        "refresh_token": f"{REFRESH}-0",
        "expires_at": "2030-05-17T08:30:15.123456+00:00",
        "scope": "comfort.read",
    }


def test_token_from_json_missing_scope_is_none() -> None:
    data = make_token().to_json()
    del data["scope"]
    assert Token.from_json(data).scope is None


def test_token_from_json_converts_offset_to_utc() -> None:
    data = make_token().to_json()
    data["expires_at"] = "2030-06-01T14:00:00+02:00"
    token = Token.from_json(data)
    assert token.expires_at == datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    assert token.expires_at.utcoffset() == timedelta(0)


def _garbage() -> list[Any]:
    good = make_token().to_json()
    missing = [{k: v for k, v in good.items() if k != key} for key in good if key != "scope"]
    return [
        None,
        "a string",
        42,
        [good],
        {},
        *missing,
        {**good, "expires_at": "2030-01-01T12:00:00"},  # naive
        {**good, "expires_at": "tomorrow"},
        {**good, "expires_at": None},
        {**good, "expires_at": 1893456000},
        {**good, "access_token": ""},
        {**good, "access_token": None},
        {**good, "refresh_token": 12345},
    ]


@pytest.mark.parametrize("data", _garbage())
def test_token_from_json_garbage_raises_value_error(data: Any) -> None:
    with pytest.raises(ValueError, match=r".") as info:
        Token.from_json(data)
    assert_no_secret(str(info.value), f"{ACCESS}-0", f"{REFRESH}-0")


@pytest.mark.parametrize("scope", [42, ["comfort.read"], {"a": 1}])
def test_token_from_json_rejects_non_string_scope(scope: Any) -> None:
    with pytest.raises(ValueError, match=r"."):
        Token.from_json({**make_token().to_json(), "scope": scope})


# --------------------------------------------------------------------------------------------
# MemoryTokenStore


@pytest.mark.asyncio
async def test_memory_store_starts_empty() -> None:
    assert await MemoryTokenStore().load() is None


@pytest.mark.asyncio
async def test_memory_store_starts_with_given_token() -> None:
    token = make_token()
    assert await MemoryTokenStore(token).load() == token


@pytest.mark.asyncio
async def test_memory_store_save_replaces() -> None:
    store = MemoryTokenStore(make_token(1))
    await store.save(make_token(2))
    assert await store.load() == make_token(2)
    await store.save(make_token(3))
    assert await store.load() == make_token(3)


@pytest.mark.asyncio
async def test_memory_store_repr_redacts() -> None:
    store = MemoryTokenStore(Token(ACCESS, REFRESH, EXPIRES))
    assert_no_secret(repr(store), ACCESS, REFRESH)
    assert_no_secret(str(store), ACCESS, REFRESH)
    assert repr(store).startswith("MemoryTokenStore(")
    await store.save(Token("AT-other-secret", "RT-other-secret", EXPIRES))
    assert_no_secret(repr(store), "AT-other-secret", "RT-other-secret")
    assert "None" in repr(MemoryTokenStore())


# --------------------------------------------------------------------------------------------
# The TokenStore protocol


class DictStore:
    """What a user might write: a keyring, a database, a Home Assistant config entry."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def load(self) -> Token | None:
        raw = self.data.get("token")
        return None if raw is None else Token.from_json(raw)

    async def save(self, token: Token) -> None:
        self.data["token"] = token.to_json()


class LoadOnly:
    async def load(self) -> Token | None:
        return None


def test_builtin_stores_are_token_stores(tmp_path: Path) -> None:
    assert isinstance(FileTokenStore(tmp_path / "token.json"), TokenStore)
    assert isinstance(MemoryTokenStore(), TokenStore)


def test_user_store_is_a_token_store() -> None:
    assert isinstance(DictStore(), TokenStore)
    assert not isinstance(LoadOnly(), TokenStore)
    assert not isinstance(object(), TokenStore)


@pytest.mark.asyncio
async def test_user_store_works_with_oauth2auth(clock: FakeClock) -> None:
    store = DictStore()
    token = Token(ACCESS, REFRESH, clock.now() + timedelta(hours=1))
    await store.save(token)
    app = OAuthApp("client-id", "client-secret", "https://localhost/callback", clock=clock)
    auth = OAuth2Auth(app, store)
    assert auth.store is store
    # A fresh token is taken from the user's store without any HTTP.
    assert await auth.token() == token


# --------------------------------------------------------------------------------------------
# FileTokenStore


@pytest.mark.asyncio
async def test_file_store_missing_file_loads_none(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    assert await store.load() is None
    assert store.load_sync() is None
    assert names(tmp_path) == []  # loading creates nothing


@pytest.mark.asyncio
async def test_file_store_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    token = make_token()
    await store.save(token)
    loaded = await store.load()
    assert loaded == token
    assert loaded is not None
    assert loaded.expires_at.tzinfo is not None
    assert loaded.expires_at.utcoffset() == timedelta(0)
    assert loaded.expires_at == EXPIRES
    # Another store on the same path (another process, later) sees it too.
    assert FileTokenStore(str(path)).load_sync() == token
    assert names(tmp_path) == ["token.json"]


@pytest.mark.asyncio
async def test_file_store_accepts_str_and_pathlike(tmp_path: Path) -> None:
    await FileTokenStore(str(tmp_path / "a.json")).save(make_token(1))
    assert FileTokenStore(tmp_path / "a.json").load_sync() == make_token(1)


@pytest.mark.asyncio
async def test_file_store_save_replaces(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    for n in range(5):
        await store.save(make_token(n))
        assert await store.load() == make_token(n)
    assert temp_files(tmp_path) == []


@pytest.mark.asyncio
async def test_file_store_json_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    await FileTokenStore(path).save(make_token(scope="comfort.read"))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"access_token", "refresh_token", "expires_at", "scope"}
    assert data["access_token"] == f"{ACCESS}-0"
    assert data["refresh_token"] == f"{REFRESH}-0"
    assert data["scope"] == "comfort.read"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", data["expires_at"])
    assert datetime.fromisoformat(data["expires_at"]) == EXPIRES
    await FileTokenStore(path).save(make_token(scope=None))
    assert json.loads(path.read_text(encoding="utf-8"))["scope"] is None


@pytest.mark.asyncio
async def test_file_store_mode_is_0600_with_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    with umask(0o000):
        await FileTokenStore(path).save(make_token())
        assert mode(path) == 0o600
        FileTokenStore(path).save_sync(make_token(1))
        assert mode(path) == 0o600


@pytest.mark.asyncio
async def test_file_store_mode_is_0600_when_overwriting_0644(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(json.dumps(make_token(1).to_json()), encoding="utf-8")
    path.chmod(0o644)
    assert mode(path) == 0o644
    with umask(0o022):
        await FileTokenStore(path).save(make_token(2))
    assert mode(path) == 0o600
    assert FileTokenStore(path).load_sync() == make_token(2)


@pytest.mark.asyncio
async def test_file_store_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "token.json"
    store = FileTokenStore(path)
    assert await store.load() is None
    await store.save(make_token())
    assert await store.load() == make_token()
    assert mode(path) == 0o600
    assert names(path.parent) == ["token.json"]


@pytest.mark.asyncio
async def test_file_store_leaves_no_temp_files(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    for n in range(20):
        await store.save(make_token(n))
        store.save_sync(make_token(n + 100))
    assert names(tmp_path) == ["token.json"]


@pytest.mark.asyncio
async def test_file_store_failed_replace_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    await store.save(make_token(1))
    before = path.read_bytes()
    calls: list[tuple[Any, Any]] = []

    def broken_replace(src: Any, dst: Any) -> None:
        calls.append((src, dst))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        await store.save(make_token(2))
    with pytest.raises(OSError, match="No space left"):
        store.save_sync(make_token(3))
    monkeypatch.undo()

    assert len(calls) == 2  # the failure really was at the rename
    assert path.read_bytes() == before
    assert await store.load() == make_token(1)
    assert mode(path) == 0o600
    assert names(tmp_path) == ["token.json"]


@pytest.mark.asyncio
async def test_file_store_failed_fsync_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    await store.save(make_token(1))

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        await store.save(make_token(2))
    monkeypatch.undo()

    assert await store.load() == make_token(1)
    assert names(tmp_path) == ["token.json"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_file_store_failed_write_does_not_leak_a_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileTokenStore(tmp_path / "token.json")

    def broken_fsync(fd: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fsync", broken_fsync)
    for _ in range(10):
        with pytest.raises(PermissionError):
            store.save_sync(make_token())
    monkeypatch.undo()
    assert temp_files(tmp_path) == []
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", [None, "token", make_token().to_json(), MemoryTokenStore()])
async def test_file_store_save_rejects_non_token(tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    with pytest.raises(TypeError):
        await store.save(bad)
    with pytest.raises(TypeError):
        store.save_sync(bad)
    assert names(tmp_path) == []


def test_file_store_repr(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    store.save_sync(Token(ACCESS, REFRESH, EXPIRES))
    assert str(path) in repr(store)
    assert repr(store).startswith("FileTokenStore(")
    assert_no_secret(repr(store), ACCESS, REFRESH)
    assert_no_secret(str(store), ACCESS, REFRESH)


def _corrupt_files() -> dict[str, bytes]:
    good = Token(ACCESS, REFRESH, EXPIRES).to_json()
    text = json.dumps(good, indent=2)

    def without(key: str) -> bytes:
        return json.dumps({k: v for k, v in good.items() if k != key}).encode()

    return {
        "empty": b"",
        "not-json": b"this is not json",
        "truncated": text[: len(text) // 2].encode(),
        "truncated-after-access": text[: text.index(ACCESS) + len(ACCESS) + 2].encode(),
        "json-list": json.dumps([good]).encode(),
        "json-string": json.dumps(ACCESS).encode(),
        "json-null": b"null",
        "json-empty-object": b"{}",
        "missing-access": without("access_token"),
        "missing-refresh": without("refresh_token"),
        "missing-expires": without("expires_at"),
        "naive-expires": json.dumps({**good, "expires_at": "2030-05-17T08:30:15"}).encode(),
        "bad-expires": json.dumps({**good, "expires_at": "soon"}).encode(),
        "null-expires": json.dumps({**good, "expires_at": None}).encode(),
        "empty-access": json.dumps({**good, "access_token": ""}).encode(),
        "numeric-refresh": json.dumps({**good, "refresh_token": 7}).encode(),
    }


@pytest.mark.asyncio
@pytest.mark.parametrize(("name", "content"), list(_corrupt_files().items()))
async def test_file_store_corrupt_file_raises_value_error(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(content)
    store = FileTokenStore(path)
    with pytest.raises(ValueError, match=r".") as sync_info:
        store.load_sync()
    with pytest.raises(ValueError, match=r".") as async_info:
        await store.load()
    for info in (sync_info, async_info):
        message = str(info.value)
        assert str(path) in message, f"{name}: the message does not name the file: {message!r}"
        assert_no_secret(message, ACCESS, REFRESH)
        # Not in the traceback a log would show either (chained exceptions included).
        assert_no_secret("".join(traceback.format_exception(info.value)), ACCESS, REFRESH)
    assert path.read_bytes() == content  # loading never touches the file


def test_file_store_non_utf8_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        FileTokenStore(path).load_sync()


def test_file_store_non_utf8_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"."):
        FileTokenStore(path).load_sync()


@pytest.mark.asyncio
async def test_file_store_concurrent_saves(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    tokens = [make_token(n) for n in range(50)]
    await asyncio.gather(*(store.save(token) for token in tokens))
    loaded = await store.load()
    assert loaded in tokens
    assert mode(path) == 0o600
    assert names(tmp_path) == ["token.json"]


@pytest.mark.asyncio
async def test_file_store_concurrent_saves_from_several_stores(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    tokens = [make_token(n) for n in range(50)]
    await asyncio.gather(*(FileTokenStore(path).save(token) for token in tokens))
    assert FileTokenStore(path).load_sync() in tokens
    assert names(tmp_path) == ["token.json"]


@pytest.mark.asyncio
async def test_file_store_non_utc_expires_at(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    local = datetime(2030, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2, minutes=30)))
    await store.save(Token(ACCESS, REFRESH, local))
    assert json.loads(path.read_text(encoding="utf-8"))["expires_at"].endswith("+00:00")
    loaded = await store.load()
    assert loaded is not None
    assert loaded.expires_at == local
    assert loaded.expires_at.utcoffset() == timedelta(0)


@pytest.mark.asyncio
async def test_file_store_loads_hand_written_offset_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(
        json.dumps({**make_token().to_json(), "expires_at": "2030-06-01T09:00:00-05:00"}),
        encoding="utf-8",
    )
    loaded = await FileTokenStore(path).load()
    assert loaded is not None
    assert loaded.expires_at == datetime(2030, 6, 1, 14, 0, tzinfo=UTC)
    assert loaded.expires_at.utcoffset() == timedelta(0)


# --------------------------------------------------------------------------------------------
# Crash safety: SIGKILL a process in the middle of saving, over and over.

CRASH_RUNS = 50
PADDING = 64 * 1024  # the scope padding: each save writes a ~64 KiB file
RUN_STRIDE = 10**12  # token numbers of run r are r * RUN_STRIDE + 0, 1, 2, ...

# The writer imports legrand_async, waits for "go" on stdin (so that the next writer can be
# started and import while the current one is being tested), saves one token, says "ready",
# then saves distinct tokens in a tight loop until it is killed.
WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from legrand_async import FileTokenStore, Token

path, base, padding = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = FileTokenStore(path)
expires = datetime(2030, 1, 1, tzinfo=UTC)
if sys.stdin.readline().strip() != "go":
    sys.exit(0)
n = base
while True:
    scope = f"S-{n}-" + "p" * padding
    store.save_sync(Token(f"AT-{n}", f"RT-{n}", expires + timedelta(seconds=n - base), scope))
    if n == base:
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
    n += 1
"""


def _spawn_writer(path: Path, run: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(run * RUN_STRIDE), str(PADDING)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _wait_ready(proc: subprocess.Popen[bytes], run: int, timeout: float = 10.0) -> None:
    """Wait (bounded) for the writer's first save to be complete."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    received = b""
    while b"ready\n" not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"run {run}: the writer was not ready after {timeout} s")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 64)
            if not chunk:
                proc.wait(timeout=5)
                stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"run {run}: the writer exited ({proc.returncode}): {stderr}")
            received += chunk


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.skipif(os.name == "nt", reason="needs SIGKILL")
def test_file_store_survives_sigkill_during_saves(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    path = directory / "tokens.json"
    store = FileTokenStore(path)
    rng = random.Random(20240517)
    leftover = re.compile(rf"\.{re.escape(path.name)}\..+\.tmp")
    token_re = re.compile(r"AT-(\d+)")
    previous = -1
    started = time.monotonic()

    upcoming = _spawn_writer(path, 0)
    procs = [upcoming]
    try:
        for run in range(CRASH_RUNS):
            proc = upcoming
            if run + 1 < CRASH_RUNS:  # let the next writer start up while this one is tested
                upcoming = _spawn_writer(path, run + 1)
                procs.append(upcoming)
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            _wait_ready(proc, run)
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"run {run}: the writer died on its own ({proc.returncode}): {stderr}")
            _kill(proc)
            assert proc.returncode == -signal.SIGKILL, f"run {run}: {proc.returncode}"

            # The file must hold one whole token, from this run (the writer had saved one).
            try:
                token = store.load_sync()
            except ValueError as exc:
                pytest.fail(f"run {run}: the token file is broken after SIGKILL: {exc}")
            assert token is not None, f"run {run}: the token file is gone after SIGKILL"
            match = token_re.fullmatch(token.access_token)
            assert match, f"run {run}: unexpected access token {token.access_token[:40]!r}"
            n = int(match.group(1))
            assert run * RUN_STRIDE <= n < (run + 1) * RUN_STRIDE, (
                f"run {run}: the file holds token {n}, not one this run saved"
            )
            assert n >= previous, f"run {run}: token {n} is older than {previous} seen before"
            previous = n
            assert token.refresh_token == f"RT-{n}", f"run {run}: tokens {n} mixed up"
            assert token.scope == f"S-{n}-" + "p" * PADDING, f"run {run}: scope padding damaged"
            assert token.expires_at == datetime(2030, 1, 1, tzinfo=UTC) + timedelta(
                seconds=n - run * RUN_STRIDE
            ), f"run {run}: expires_at of token {n} is wrong"
            assert mode(path) == 0o600, f"run {run}: mode {oct(mode(path))}"

            # Nothing else but the token file and, from a kill mid-save, temp files.
            others = [p.name for p in directory.iterdir() if p.name != path.name]
            strays = [name for name in others if not leftover.fullmatch(name)]
            assert strays == [], f"run {run}: unexpected files {strays}"
    finally:
        for proc in procs:
            _kill(proc)

    elapsed = time.monotonic() - started
    assert elapsed < 60, f"the crash test took {elapsed:.1f} s"
