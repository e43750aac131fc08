"""Quota stores that fail (raising, full disk, read-only directory) and stores shared by several
processes: no call ever fails for the store, and no count is lost."""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest
import respx

from legrand_async import (
    FileQuotaStore,
    LegrandClient,
    QuotaExhausted,
    RateLimit,
    SharedQuotaStore,
)
from legrand_async._stores import STORE_TIMEOUT
from legrand_async._transport.quota_sync import FAILING_DELAY

from .conftest import CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock, load, wire
from .disks import fill, read_only_view, tmpfs
from .limiter_support import RecordingStore, quota_worker

NOON = datetime(2026, 11, 21, 12, tzinfo=UTC)
TODAY = datetime(2026, 11, 21, tzinfo=UTC)


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


# --------------------------------------------------------------------------------------------
# A store that raises
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_store_that_raises_never_fails_a_call(caplog: pytest.LogCaptureFixture) -> None:
    store = RecordingStore()
    store.fail_load = RuntimeError("no database")
    store.fail_save = OSError(errno.ENOSPC, "No space left on device")
    clock = FakeClock(NOON)
    rate = RateLimit(per_day=5, store=store, clock=clock, flush_delay=0)
    with caplog.at_level(logging.INFO, logger="legrand_async"):
        for _ in range(4):
            await rate.acquire()  # the store could not be read: not written for a while
        assert isinstance(rate.store_error, RuntimeError)
        clock.advance(FAILING_DELAY)
        await rate.acquire()  # tries again: reads and writes, and both fail
        assert rate.store_error is store.fail_save
        assert store.loads == 2
        with pytest.raises(QuotaExhausted):
            await rate.acquire()  # the count lives on in memory
        assert rate.snapshot().used_today == 5
        assert len(warnings(caplog)) == 1  # once per streak, not once per call
        assert "RecordingStore" in warnings(caplog)[0].getMessage()
        # The store comes back: the next write catches up with every call.
        store.fail_load = store.fail_save = None
        await rate.flush()
        assert store.saves == [(TODAY, 5)]
        assert rate.store_error is None
        assert "works again" in caplog.records[-1].getMessage()
        # A new streak is logged again.
        store.fail_save = OSError(errno.EIO, "I/O error")
        rate.exhaust(None)
        await rate.flush()
        assert len(warnings(caplog)) == 2


@pytest.mark.asyncio
async def test_a_store_that_raises_never_fails_a_call_through_the_client() -> None:
    store = RecordingStore()
    store.fail_load = store.fail_save = PermissionError(errno.EACCES, "Permission denied")
    clock = FakeClock(NOON)
    rate = RateLimit(store=store, flush_delay=0)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(CHRONO).mock(return_value=httpx.Response(200, json=load("smarther_status.json")))
        async with LegrandClient(
            KEY, access_token=TOKEN, transport=wire(), clock=clock, rate_limit=rate
        ) as client:
            for _ in range(3):
                await client.smarther.get_status(PLANT, MODULE)
            quota = client.quota
            assert quota is not None
            assert quota.used_today == 3
    assert isinstance(rate.store_error, PermissionError)


@pytest.mark.asyncio
async def test_a_store_that_cannot_load_is_read_again_before_a_save_overwrites_it() -> None:
    store = RecordingStore((TODAY, 40))
    store.fail_load = RuntimeError("timeout")
    rate = RateLimit(store=store, clock=FakeClock(NOON))
    await rate.acquire()
    assert rate.snapshot().used_today == 1
    store.fail_load = None
    await rate.flush()
    assert store.saves == [(TODAY, 41)]  # the stored 40 are not lost
    assert rate.snapshot().used_today == 41


@pytest.mark.parametrize(
    "record",
    [(datetime(2026, 11, 21), 3), ("today", 3), (TODAY,), (TODAY, "3"), 42],  # type: ignore[list-item]
)
@pytest.mark.asyncio
async def test_a_store_holding_nonsense_never_fails_a_call(record: object) -> None:
    store = RecordingStore(record)  # type: ignore[arg-type]
    rate = RateLimit(per_day=5, store=store, clock=FakeClock(NOON))
    await rate.acquire()
    assert rate.snapshot().used_today == 1
    assert rate.store_error is not None


@pytest.mark.asyncio
async def test_a_flush_before_any_call_reads_the_store_first() -> None:
    store = RecordingStore((TODAY, 40))
    rate = RateLimit(store=store, clock=FakeClock(NOON))
    rate.exhaust(None)  # the server's word, before this limiter made a call of its own
    await rate.flush()
    assert store.saves == [(TODAY, 40)]


def test_a_store_that_never_answers_holds_up_no_call() -> None:
    """Loads and writes give up after STORE_TIMEOUT (trio's virtual clock: no real wait)."""
    import trio.testing

    async def main() -> None:
        store = RecordingStore((TODAY, 2))
        store.hold_load = anyio.Event()  # never set: the store does not answer
        clock = FakeClock(NOON)
        rate = RateLimit(per_day=5, store=store, clock=clock, flush_delay=0)
        started = anyio.current_time()
        await rate.acquire()
        assert anyio.current_time() - started == pytest.approx(STORE_TIMEOUT)
        assert isinstance(rate.store_error, TimeoutError)
        assert rate.snapshot().used_today == 1
        await rate.acquire()  # a failing store is not tried again before FAILING_DELAY
        assert anyio.current_time() - started == pytest.approx(STORE_TIMEOUT)
        store.hold_load, store.hold = None, anyio.Event()  # now it reads, but writes hang
        clock.advance(FAILING_DELAY)
        await rate.acquire()  # reads the 2 stored calls first, then gives up on the write
        assert rate.snapshot().used_today == 5
        await rate.flush()
        assert anyio.current_time() - started == pytest.approx(3 * STORE_TIMEOUT)
        assert store.saves == []

    clock = trio.testing.MockClock(autojump_threshold=0)
    anyio.run(main, backend="trio", backend_options={"clock": clock})


# --------------------------------------------------------------------------------------------
# A full disk, a read-only directory (a tmpfs mounted for the test; skipped if not allowed)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk") as point:
        yield point


@pytest.mark.asyncio
async def test_a_full_disk_never_fails_a_call(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = small_disk / "quota.json"
    rate = RateLimit(per_day=6, store=FileQuotaStore(path), clock=FakeClock(NOON), flush_delay=0)
    await rate.acquire()
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 1}
    filler = fill(small_disk)
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        for _ in range(5):
            await rate.acquire()
        with pytest.raises(QuotaExhausted):
            await rate.acquire()
    assert isinstance(rate.store_error, OSError)
    assert rate.store_error.errno == errno.ENOSPC
    assert len(warnings(caplog)) == 1
    # The old count is intact and no temporary file is left behind.
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 1}
    left = sorted(os.listdir(small_disk))
    assert left == ["filler", "quota.json", "quota.json.lock"]
    filler.unlink()
    await rate.flush()
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 6}
    assert rate.store_error is None


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory holding a quota file of 7 calls today, which can no longer be written."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "quota.json").write_text(json.dumps({"day": TODAY.isoformat(), "used": 7}))
    if os.geteuid() == 0:  # root writes through permissions: a read-only mount instead
        with read_only_view(source, tmp_path / "ro") as view:
            yield view
        return
    source.chmod(0o500)
    try:
        yield source
    finally:
        source.chmod(0o700)


@pytest.mark.asyncio
async def test_a_read_only_directory_never_fails_a_call(
    read_only_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = read_only_dir / "quota.json"
    rate = RateLimit(per_day=10, store=FileQuotaStore(path), clock=FakeClock(NOON), flush_delay=0)
    with caplog.at_level(logging.WARNING, logger="legrand_async"):
        for _ in range(3):
            await rate.acquire()
        await rate.flush()
    assert rate.snapshot().used_today == 10  # the 7 stored, read without a lock, and 3 more
    assert isinstance(rate.store_error, OSError)
    assert len(warnings(caplog)) == 1
    with pytest.raises(QuotaExhausted):
        await rate.acquire()


# --------------------------------------------------------------------------------------------
# One file, several processes
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_two_limiters_on_one_file_keep_each_others_counts(tmp_path: Path) -> None:
    path = tmp_path / "quota.json"
    clock = FakeClock(NOON)
    first = RateLimit(store=FileQuotaStore(path), clock=clock)
    second = RateLimit(store=FileQuotaStore(path), clock=clock)
    for _ in range(3):
        await first.acquire()
    await first.flush()
    await second.load()
    assert second.snapshot().used_today == 3
    for _ in range(2):
        await second.acquire()
    await second.flush()
    assert json.loads(path.read_text())["used"] == 5
    await first.acquire()
    await first.flush()  # adds its fourth call to the second's two; learns about them
    assert json.loads(path.read_text())["used"] == 6
    assert first.snapshot().used_today == 6
    await first.flush()  # nothing changed: nothing written twice
    assert json.loads(path.read_text())["used"] == 6


@pytest.mark.asyncio
async def test_a_merge_is_absolute_so_a_repeated_one_counts_once(tmp_path: Path) -> None:
    store = FileQuotaStore(tmp_path / "quota.json")
    assert isinstance(store, SharedQuotaStore)
    later = NOON + timedelta(hours=1)
    assert await store.merge("a", TODAY, 3, exhausted_until=None, now=NOON) == (TODAY, 3, None)
    assert await store.merge("a", TODAY, 3, exhausted_until=None, now=NOON) == (TODAY, 3, None)
    assert await store.merge("b", TODAY, 2, exhausted_until=later, now=NOON) == (TODAY, 5, later)
    # A refund lowers a writer's share; the other's "spent until" is kept while in the future.
    assert await store.merge("a", TODAY, 1, exhausted_until=None, now=NOON) == (TODAY, 3, later)
    assert await store.load() == (TODAY, 3, later)
    # Once past, the mark is dropped; a new day replaces the record.
    tomorrow = TODAY + timedelta(days=1)
    assert await store.merge("a", tomorrow, 1, exhausted_until=None, now=tomorrow) == (
        tomorrow,
        1,
        None,
    )
    # A record of a later window is left as it is.
    assert await store.merge("b", TODAY, 9, exhausted_until=None, now=NOON) == (tomorrow, 1)
    assert await store.load() == (tomorrow, 1)


@pytest.mark.asyncio
async def test_an_absurdly_nested_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "quota.json"
    path.write_text("[" * 100_000)
    assert await FileQuotaStore(path).load() is None


def test_processes_on_one_file_lose_no_count(tmp_path: Path) -> None:
    path, go = tmp_path / "quota.json", tmp_path / "go"
    workers = [quota_worker(path, 40, go) for _ in range(3)]
    go.touch()  # all three start writing at once
    for worker in workers:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 120}
