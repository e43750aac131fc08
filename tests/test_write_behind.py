"""The count is written behind: no I/O on the way to a slot, a write after ``flush_delay``, on a
403 or 429 and on close; a slow store holds nobody up; a call cancelled before it is sent is
not counted, and no count is lost to a cancellation."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
import pytest
import respx

from legrand_async import FileQuotaStore, LegrandClient, QuotaExhausted, RateLimit, RetryPolicy

from .conftest import CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock, ok_status, wire
from .limiter_support import RecordingStore
from .test_ratelimit import VirtualClock

NOON = datetime(2026, 11, 21, 12, tzinfo=UTC)
TODAY = datetime(2026, 11, 21, tzinfo=UTC)
QUOTA_403 = "Out of call volume quota. Quota will be replenished in 01:00:00."


def client_of(clock: object, rate: RateLimit, **kwargs: object) -> LegrandClient:
    return LegrandClient(
        KEY,
        access_token=TOKEN,
        transport=wire(),
        clock=clock,  # type: ignore[arg-type]
        rate_limit=rate,
        retry=RetryPolicy(jitter=0),
        **kwargs,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------------------------
# When the count is written
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_acquiring_a_slot_does_no_io() -> None:
    store = RecordingStore()
    store.hold = anyio.Event()  # a write would hang the acquire: it must not happen
    rate = RateLimit(per_day=None, store=store, clock=FakeClock(NOON))
    with anyio.fail_after(5):
        await rate.load()
        for _ in range(50):
            await rate.acquire()
    assert not store.saving.is_set()
    store.hold = None
    await rate.flush()
    assert store.saves == [(TODAY, 50)]
    await rate.flush()  # nothing changed since
    assert store.saves == [(TODAY, 50)]


@pytest.mark.asyncio
async def test_acquiring_a_slot_makes_no_system_call_and_starts_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a FileQuotaStore, once loaded: a thousand acquires within flush_delay open, write,
    sync and rename nothing and hand nothing to a worker thread; the first call after the
    delay writes once."""
    clock = FakeClock(NOON)
    rate = RateLimit(per_day=None, store=FileQuotaStore(tmp_path / "quota.json"), clock=clock)
    await rate.load()
    calls: list[str] = []

    def counting(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return call

    for name in ("open", "fsync", "replace", "write", "read", "stat", "fstat"):
        monkeypatch.setattr(os, name, counting(name, getattr(os, name)))
    monkeypatch.setattr(anyio.to_thread, "run_sync", counting("thread", anyio.to_thread.run_sync))
    for _ in range(1000):
        await rate.acquire()
    assert calls == []
    clock.advance(1.0)
    await rate.acquire()
    assert calls.count("thread") == 1
    assert calls.count("replace") == 1
    assert json.loads((tmp_path / "quota.json").read_text())["used"] == 1001


@pytest.mark.asyncio
async def test_the_count_is_written_by_the_first_call_after_flush_delay() -> None:
    clock = FakeClock(NOON)
    store = RecordingStore()
    rate = RateLimit(store=store, clock=clock, flush_delay=2.0)
    await rate.acquire()
    clock.advance(1.0)
    await rate.acquire()
    assert store.saves == []
    clock.advance(1.0)
    await rate.acquire()  # two seconds after the store was read: this call writes, itself too
    assert store.saves == [(TODAY, 3)]
    clock.advance(600)
    await rate.acquire()  # a call long after the last write writes at once
    assert store.saves == [(TODAY, 3), (TODAY, 4)]


@pytest.mark.asyncio
async def test_a_slow_store_holds_up_no_other_caller() -> None:
    store = RecordingStore()
    rate = RateLimit(store=store, clock=FakeClock(NOON), flush_delay=0)
    await rate.load()
    store.hold = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(rate.acquire)  # writes, and the write hangs
            await store.saving.wait()
            for _ in range(10):
                await rate.acquire()  # neither waits for it nor starts a second write
            assert rate.snapshot().used_today == 11
            assert store.saves == []
            store.hold.set()
    assert store.saves == [(TODAY, 1)]
    await rate.flush()
    assert store.saves == [(TODAY, 1), (TODAY, 11)]


@pytest.mark.parametrize("cancelled", [False, True])
@pytest.mark.asyncio
async def test_closing_the_client_writes_the_count(tmp_path: Path, cancelled: bool) -> None:
    """Also when the task closing it is cancelled: the write is shielded."""
    path = tmp_path / "quota.json"
    rate = RateLimit(store=FileQuotaStore(path))
    with respx.mock(assert_all_called=True) as mock:
        mock.get(CHRONO).mock(return_value=ok_status())
        client = client_of(FakeClock(NOON), rate)
        for _ in range(3):
            await client.smarther.get_status(PLANT, MODULE)
        assert not path.exists()  # the clock stood still: no write yet
        with anyio.CancelScope() as scope:
            if cancelled:
                scope.cancel()
            await client.aclose()
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 3}


@pytest.mark.asyncio
async def test_asyncio_s_own_cancel_during_the_closing_write_keeps_the_count() -> None:
    """``task.cancel()`` (Ctrl-C under ``asyncio.run``) goes through an anyio shield: the write
    that closing started still ends, then the task sees its cancellation."""
    store = RecordingStore()
    store.hold = anyio.Event()
    rate = RateLimit(store=store)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(CHRONO).mock(return_value=ok_status())
        client = client_of(FakeClock(NOON), rate)
        for _ in range(3):
            await client.smarther.get_status(PLANT, MODULE)
        closing = asyncio.ensure_future(client.aclose())
        await store.saving.wait()
        closing.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        store.hold.set()
        with pytest.raises(asyncio.CancelledError):
            await closing
    assert store.saves == [(TODAY, 3)]


@pytest.mark.asyncio
async def test_a_403_writes_the_count_and_the_mark_at_once(tmp_path: Path) -> None:
    path = tmp_path / "quota.json"
    rate = RateLimit(store=FileQuotaStore(path))
    with respx.mock(assert_all_called=True) as mock:
        mock.get(CHRONO).mock(
            return_value=httpx.Response(403, json={"statusCode": 403, "message": QUOTA_403})
        )
        async with client_of(FakeClock(NOON), rate) as client:
            with pytest.raises(QuotaExhausted):
                await client.smarther.get_status(PLANT, MODULE)
            assert json.loads(path.read_text()) == {
                "day": TODAY.isoformat(),
                "used": 1,
                "exhausted_until": "2026-11-21T13:00:00+00:00",
            }


@pytest.mark.asyncio
async def test_a_429_writes_the_count_at_once(tmp_path: Path) -> None:
    path = tmp_path / "quota.json"
    rate = RateLimit(store=FileQuotaStore(path), flush_delay=3600)
    seen: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if not seen:
            seen.append(None)
            return httpx.Response(
                429,
                json={"statusCode": 429, "message": "Rate limit is exceeded."},
                headers={"Retry-After": "1"},
            )
        seen.append(json.loads(path.read_text()))  # the retry: the 429's count is written
        return ok_status()

    with respx.mock(assert_all_called=True) as mock:
        mock.get(CHRONO).mock(side_effect=answer)
        async with client_of(FakeClock(NOON), rate) as client:
            await client.smarther.get_status(PLANT, MODULE)
    assert seen[1] == {"day": TODAY.isoformat(), "used": 1}


# --------------------------------------------------------------------------------------------
# Cancellation: a call not sent is not counted, a count is never lost
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_call_cancelled_during_the_write_it_started_is_not_counted() -> None:
    clock = FakeClock(NOON)
    store = RecordingStore()
    rate = RateLimit(per_second=1, store=store, clock=clock, flush_delay=0)
    await rate.load()
    store.hold = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(rate.acquire)
            await store.saving.wait()
            group.cancel_scope.cancel()
    quota = rate.snapshot()
    assert quota.used_today == 0
    store.hold = None
    await rate.acquire()  # its per-second slot was given back too: no wait
    assert clock.sleeps == []
    await rate.flush()
    assert store.saves == [(TODAY, 1)]


@pytest.mark.asyncio
async def test_a_call_cancelled_before_it_is_sent_is_not_counted() -> None:
    store = RecordingStore()
    rate = RateLimit(store=store, flush_delay=0)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(CHRONO).mock(return_value=ok_status())
        async with client_of(FakeClock(NOON), rate) as client:
            store.hold = anyio.Event()
            with anyio.fail_after(5):
                async with anyio.create_task_group() as group:
                    group.start_soon(client.smarther.get_status, PLANT, MODULE)
                    await store.saving.wait()  # it has its slot and is writing the count
                    group.cancel_scope.cancel()
            quota = client.quota
            assert quota is not None
            assert quota.used_today == 0
            assert route.call_count == 0
            store.hold = None


@pytest.mark.asyncio
async def test_a_call_cancelled_while_waiting_in_the_limiter_is_not_counted() -> None:
    clock = VirtualClock(NOON)
    rate = RateLimit(per_second=1, per_day=10, clock=clock)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(CHRONO).mock(return_value=ok_status())
        async with clock.running(), client_of(clock, rate) as client:
            await client.smarther.get_status(PLANT, MODULE)
            with anyio.move_on_after(5):
                async with anyio.create_task_group() as group:
                    group.start_soon(client.smarther.get_status, PLANT, MODULE)
                    while not clock.sleeps:  # until it waits for its second
                        await anyio.lowlevel.checkpoint()
                    group.cancel_scope.cancel()
            quota = client.quota
            assert quota is not None
            assert quota.used_today == 1
            assert route.call_count == 1


# --------------------------------------------------------------------------------------------
# Under trio
# --------------------------------------------------------------------------------------------


def test_write_behind_runs_under_trio(tmp_path: Path) -> None:
    """The write in a worker thread, a write that hangs, a cancelled caller, a shielded flush."""
    path = tmp_path / "quota.json"

    async def main() -> None:
        clock = FakeClock(NOON)
        rate = RateLimit(store=FileQuotaStore(path), clock=clock, flush_delay=0)
        await rate.acquire()
        assert json.loads(path.read_text())["used"] == 1
        store = RecordingStore()
        held = RateLimit(per_second=1, store=store, clock=clock, flush_delay=0)
        await held.load()
        store.hold = anyio.Event()
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(held.acquire)
                await store.saving.wait()
                await rate.acquire()  # another limiter goes on meanwhile
                group.cancel_scope.cancel()
        assert held.snapshot().used_today == 0
        with anyio.CancelScope() as scope:
            scope.cancel()
            await rate.flush()

    anyio.run(main, backend="trio")
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 2}
