"""FileQuotaStore against hostile files and processes: a directory, a FIFO or a device where the
file should be, a huge or non-UTF-8 file, a loose mode, a broken record from the far future, a
read-only bind mount, a disk that hangs, and processes killed in the middle of a write."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import stat
import threading
import time as real_time
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async import FileQuotaStore, QuotaExhausted, RateLimit
from legrand_async._files import write_private
from legrand_async._stores import STORE_TIMEOUT
from legrand_async._transport import quota_store

from .conftest import FakeClock
from .disks import read_only_view
from .limiter_support import JumpClock, quota_worker
from .test_quota_store import warnings

NOON = datetime(2026, 11, 21, 12, tzinfo=UTC)
TODAY = datetime(2026, 11, 21, tzinfo=UTC)


def record(used: int, **extra: str) -> str:
    return json.dumps({"day": TODAY.isoformat(), "used": used, **extra})


async def three_calls(path: Path) -> RateLimit:
    """Three calls and a flush on a limiter of ``path`` (within 5 s: nothing may hang)."""
    rate = RateLimit(per_day=10, store=FileQuotaStore(path), clock=FakeClock(NOON), flush_delay=0)
    with anyio.fail_after(5):
        for _ in range(3):
            await rate.acquire()
        await rate.flush()
    return rate


# --------------------------------------------------------------------------------------------
# What lies at the path
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "huge"])
@pytest.mark.asyncio
async def test_a_path_that_is_no_small_regular_file_fails_no_call_and_is_left_alone(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A FIFO would block a plain read forever, /dev/zero or a huge file would fill memory:
    each is refused without being read, logged once, kept out of the way (not replaced), and
    the count lives on in memory."""
    path = tmp_path / "quota.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as file:
            file.truncate(2 * 1024**3)  # sparse: 2 GiB that take no space
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        rate = await three_calls(path)
    assert rate.snapshot().used_today == 3
    assert rate.store_error is not None
    assert len(warnings(caplog)) == 1
    assert str(path) in warnings(caplog)[0].getMessage()
    if kind == "fifo":
        assert stat.S_ISFIFO(path.lstat().st_mode)
    elif kind == "device":
        assert path.is_symlink()
    elif kind == "huge":
        assert path.stat().st_size == 2 * 1024**3


@pytest.mark.parametrize(
    "content",
    [
        b'{"day": "\xff\xfe", "used": 3}',
        b"\xff" * 100,
        b"",
        b"null",
        b'{"day": 1, "used": 2}',
        b"[" * 200_000 + b"]" * 200_000,
    ],
    ids=["not-utf-8-inside", "not-utf-8", "empty", "null", "wrong-types", "nested-200000-deep"],
)
@pytest.mark.asyncio
async def test_a_file_that_does_not_parse_holds_no_count_and_is_replaced(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "quota.json"
    path.write_bytes(content)
    rate = await three_calls(path)
    assert rate.store_error is None
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 3}


@pytest.mark.asyncio
async def test_a_file_of_mode_0644_is_read_and_written_back_0600(tmp_path: Path) -> None:
    path = tmp_path / "quota.json"
    path.write_text(record(4))
    path.chmod(0o644)
    rate = await three_calls(path)
    assert rate.snapshot().used_today == 7
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["used"] == 7


@pytest.mark.parametrize(
    "stored",
    [
        {"day": "9999-12-31T00:00:00+00:00", "used": 3},
        {"day": "2026-12-25T00:00:00+00:00", "used": 3},
        {"day": TODAY.isoformat(), "used": 3, "exhausted_until": "9999-12-31T00:00:00+00:00"},
        {"day": TODAY.isoformat(), "used": 3, "exhausted_until": "2027-06-01T00:00:00+00:00"},
    ],
)
@pytest.mark.asyncio
async def test_a_record_from_the_far_future_wedges_nothing_and_is_replaced(
    tmp_path: Path, stored: dict[str, object]
) -> None:
    """A window or a "spent until" further ahead than any clock or server could put it is a
    broken record: it neither holds calls (day after day) nor keeps every later write out."""
    path = tmp_path / "quota.json"
    path.write_text(json.dumps(stored))
    clock = FakeClock(NOON)
    rate = RateLimit(per_day=10, store=FileQuotaStore(path), clock=clock, flush_delay=0)
    for day in range(3):
        await rate.acquire()
        written = json.loads(path.read_text())
        assert written["day"] == (TODAY + timedelta(days=day)).isoformat()
        assert "exhausted_until" not in written
        clock.advance(86_400)
    assert rate.store_error is None


@pytest.mark.asyncio
async def test_a_spent_until_of_another_process_a_little_ahead_still_counts(
    tmp_path: Path,
) -> None:
    """The server's 7 days, written by a process whose clock is an hour ahead of this one."""
    path = tmp_path / "quota.json"
    until = NOON + timedelta(days=7, hours=1)
    path.write_text(record(3, exhausted_until=until.isoformat()))
    rate = RateLimit(store=FileQuotaStore(path), clock=FakeClock(NOON))
    with pytest.raises(QuotaExhausted) as info:
        await rate.acquire()
    assert info.value.resets_at == NOON + timedelta(seconds=RateLimit.MAX_EXHAUSTION)


@pytest.mark.asyncio
async def test_a_stored_window_of_another_reset_time_ahead_of_the_clock_is_ignored(
    tmp_path: Path,
) -> None:
    """05:17 tomorrow is no window start of a day reset at midnight: not taken up as the day."""
    path = tmp_path / "quota.json"
    path.write_text(json.dumps({"day": "2026-11-22T05:17:00+00:00", "used": 9}))
    rate = RateLimit(per_day=10, store=FileQuotaStore(path), clock=FakeClock(NOON))
    await rate.acquire()
    quota = rate.snapshot()
    assert (quota.used_today, quota.resets_at) == (1, datetime(2026, 11, 22, tzinfo=UTC))


# --------------------------------------------------------------------------------------------
# A read-only bind mount, a disk that hangs
# --------------------------------------------------------------------------------------------


@pytest.fixture
def read_only_bind(tmp_path: Path) -> Iterator[Path]:
    """A directory holding a count of 7 today, bind-mounted read-only (skipped if not allowed)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "quota.json").write_text(record(7))
    with read_only_view(source, tmp_path / "ro") as point:
        yield point


@pytest.mark.asyncio
async def test_a_read_only_bind_mount_keeps_its_count_and_fails_no_call(
    read_only_bind: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = read_only_bind / "quota.json"
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        rate = await three_calls(path)
        with pytest.raises(QuotaExhausted):
            await rate.acquire()
    assert rate.snapshot().used_today == 10  # the 7 stored and 3 more, in memory
    assert isinstance(rate.store_error, OSError)
    assert len(warnings(caplog)) == 1
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 7}


def test_a_disk_that_hangs_holds_no_caller_past_the_timeout(tmp_path: Path) -> None:
    """Reads and writes that never return (a dead network file system) are given up on after
    STORE_TIMEOUT (trio's virtual clock: no real wait)."""
    import trio.testing

    stuck = threading.Event()
    store = FileQuotaStore(tmp_path / "quota.json")
    store._read = lambda: stuck.wait() and None  # type: ignore[method-assign]

    async def main() -> None:
        rate = RateLimit(per_day=5, store=store, clock=FakeClock(NOON), flush_delay=0)
        started = anyio.current_time()
        await rate.acquire()  # the load hangs: given up on
        await rate.flush()  # the write waits for the hung load: given up on too
        assert anyio.current_time() - started == pytest.approx(2 * STORE_TIMEOUT)
        assert isinstance(rate.store_error, TimeoutError)
        assert rate.snapshot().used_today == 1

    clock = trio.testing.MockClock(autojump_threshold=0)
    try:
        anyio.run(main, backend="trio", backend_options={"clock": clock})
    finally:
        stuck.set()


# --------------------------------------------------------------------------------------------
# Processes killed in the middle of a write
# --------------------------------------------------------------------------------------------


def test_a_process_killed_mid_write_loses_at_most_its_last_call_and_wedges_nothing(
    tmp_path: Path,
) -> None:
    """Two workers make 60 calls each while a third writes in a loop and is SIGKILLed: the
    file always parses, holds every call of the survivors and every call the victim had
    returned from (one more at most, if the kill came after its last write), the survivors
    never wait for the dead process's lock, and no temporary file is left behind."""
    path, go = tmp_path / "quota.json", tmp_path / "go"
    victim, survivors = quota_worker(path, -1, go), [quota_worker(path, 60, go) for _ in "ab"]
    for worker in (victim, *survivors):
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready", worker.stderr
    go.touch()
    assert victim.stdout is not None
    returned = 0
    while returned < 25:  # it is writing the whole time: the kill lands in a write
        returned = int(victim.stdout.readline())
        if returned % 5 == 0:
            json.loads(path.read_text())  # the file parses at every instant
    victim.send_signal(signal.SIGKILL)
    out, _ = victim.communicate(timeout=30)
    returned = max([returned, *(int(line) for line in out.split())])
    started = real_time.monotonic()
    for worker in survivors:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
    assert real_time.monotonic() - started < 20  # never held up by the dead process's lock
    used = json.loads(path.read_text())["used"]
    assert 120 + returned <= used <= 120 + returned + 1
    # A limiter coming afterwards takes the lock at once and cleans up.
    rate = RateLimit(per_day=None, store=FileQuotaStore(path), clock=FakeClock(NOON))
    anyio.run(rate.acquire)
    anyio.run(rate.flush)
    assert rate.store_error is None
    assert json.loads(path.read_text())["used"] == used + 1
    assert sorted(os.listdir(tmp_path)) == ["go", "quota.json", "quota.json.lock"]


# --------------------------------------------------------------------------------------------
# Property: a full disk coming and going, restarts, clock jumps: the file catches up
# --------------------------------------------------------------------------------------------

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("calls"), st.integers(1, 5)),
        st.tuples(st.just("advance"), st.floats(0, 40_000)),
        st.tuples(st.just("advance"), st.floats(0, 40)),
        st.tuples(st.just("step"), st.floats(-40_000, 40_000)),
        st.tuples(st.just("disk full"), st.booleans()),
        st.tuples(st.just("flush"), st.just(0)),
        st.tuples(st.just("restart"), st.booleans()),  # True: closed first; False: a crash
    ),
    max_size=30,
)


@given(steps=STEPS, per_day=st.integers(1, 8), zone=st.sampled_from(["UTC", "Australia/Lord_Howe"]))
@settings(max_examples=60, deadline=None)
def test_the_file_catches_up_whatever_the_disk_and_the_clock_do(
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[str, float]],
    per_day: int,
    zone: str,
) -> None:
    """After every flush on a working disk the file holds a window no older than before and,
    when the clock shows that window, exactly ``used_today``; a limiter restarted after a clean
    close starts from the stored count."""
    path = tmp_path_factory.mktemp("quota") / "quota.json"
    clock = JumpClock(datetime(2026, 10, 3, 10, tzinfo=UTC))
    at = time(2, 30, tzinfo=ZoneInfo(zone))
    disk = {"full": False}

    def write(target: Path, data: bytes) -> None:
        if disk["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        write_private(target, data)

    def limiter() -> RateLimit:
        return RateLimit(per_day=per_day, day_resets_at=at, store=FileQuotaStore(path), clock=clock)

    async def main() -> None:
        rate = limiter()
        days = [datetime.min.replace(tzinfo=UTC)]
        for kind, amount in steps:
            if kind == "calls":
                for _ in range(int(amount)):
                    with contextlib.suppress(QuotaExhausted):
                        await rate.acquire()
            elif kind == "advance":
                clock.advance(amount)
            elif kind == "step":
                clock.step(amount)
            elif kind == "disk full":
                disk["full"] = bool(amount)
            elif kind == "flush":
                await rate.flush()
            else:
                if amount:
                    await rate.flush()
                before = rate.snapshot()
                rate = limiter()
                await rate.load()
                if amount and not disk["full"] and path.exists():
                    assert rate.snapshot().used_today >= min(before.used_today, stored_count())
            if kind == "flush" and not disk["full"] and path.exists():
                stored = json.loads(path.read_text())
                day = datetime.fromisoformat(stored["day"])
                assert day >= days[-1]  # the file never goes back to an older window
                days.append(day)
                if day == rate.window_start(clock.now()):
                    assert stored["used"] == rate.snapshot().used_today

    def stored_count() -> int:
        return int(json.loads(path.read_text())["used"])

    with patch.object(quota_store, "write_private", write):
        anyio.run(main)
