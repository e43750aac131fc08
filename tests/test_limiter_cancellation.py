"""Cancelling the limiter's callers at every await, by anyio, trio and plain asyncio
(``task.cancel()``, ``asyncio.timeout``, the end of ``asyncio.run``): a call not sent is not
counted, a sent one is, and the count reaches the store when the client closes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

from legrand_async import FileQuotaStore, LegrandClient, QuotaStore, RateLimit, RetryPolicy

from .conftest import CHRONO, KEY, MODULE, PLANT, TOKEN, FakeClock, load, wire
from .limiter_support import RecordingStore

NOON = datetime(2026, 11, 21, 12, tzinfo=UTC)
TODAY = datetime(2026, 11, 21, tzinfo=UTC)


class SlowStore(RecordingStore):
    """A store in memory whose load and save each take a few checkpoints (a network round)."""

    async def load(self) -> tuple[datetime, int] | None:
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        return await super().load()

    async def save(self, day: datetime, used: int) -> None:
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        await super().save(day, used)


def stores(tmp_path: Path) -> dict[str, Callable[[], QuotaStore]]:
    names = iter(range(10_000))
    return {
        "file": lambda: FileQuotaStore(tmp_path / f"quota{next(names)}.json"),
        "slow": SlowStore,
    }


async def stored_count(store: QuotaStore) -> int:
    record = await store.load()
    return 0 if record is None else record[1]


def client_of(rate: RateLimit, clock: FakeClock) -> LegrandClient:
    return LegrandClient(
        KEY,
        access_token=TOKEN,
        transport=wire(),
        clock=clock,
        rate_limit=rate,
        retry=RetryPolicy(max_attempts=1),
    )


# --------------------------------------------------------------------------------------------
# A call cancelled at every checkpoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("kind", ["file", "slow"])
def test_a_call_cancelled_at_any_checkpoint_is_counted_only_if_sent(
    tmp_path: Path, backend: str, kind: str
) -> None:
    """A client call cancelled after its k-th checkpoint, for every k until one completes (the
    first call loads the store, every call writes it, per_second makes it wait): the quota
    counts exactly the requests that reached the wire, and so does the store once closed.
    (A cancelled caller does not wait for the file's worker thread: past 200 checkpoints, k
    grows until the thread has time to finish.)"""
    make = stores(tmp_path)[kind]
    steps = [*range(200), *(int(200 * 1.25**n) for n in range(1, 40))]

    async def main() -> None:
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(CHRONO).mock(
                return_value=httpx.Response(200, json=load("smarther_status.json"))
            )
            for k in steps:
                route.reset()
                store, clock = make(), FakeClock(NOON)
                rate = RateLimit(per_second=1, store=store, clock=clock, flush_delay=0)
                client = client_of(rate, clock)
                done = []

                async def call(client: LegrandClient = client, done: list[int] = done) -> None:
                    await client.smarther.get_status(PLANT, MODULE)
                    await client.smarther.get_status(PLANT, MODULE)  # waits a second first
                    done.append(1)

                with anyio.fail_after(10):
                    async with anyio.create_task_group() as group:
                        group.start_soon(call)
                        for _ in range(k):
                            await anyio.lowlevel.checkpoint()
                        group.cancel_scope.cancel()
                    quota = client.quota
                    assert quota is not None
                    assert quota.used_today == route.call_count, k
                    await client.aclose()
                assert await stored_count(store) == route.call_count, k
                if done:
                    assert route.call_count == 2
                    return
        raise AssertionError("the call never completed")

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("kind", ["file", "slow"])
@pytest.mark.asyncio
async def test_calls_cancelled_by_task_cancel_at_any_step_are_counted_only_if_sent(
    tmp_path: Path, kind: str
) -> None:
    """Eight concurrent acquires on one limiter, each cancelled natively after a different
    number of event-loop steps: the count is the acquires that returned, in memory and stored."""
    make = stores(tmp_path)[kind]
    for seed in range(12):
        store, clock = make(), FakeClock(NOON)
        rate = RateLimit(per_second=3, store=store, clock=clock, flush_delay=0)
        done: list[int] = []

        async def call(number: int, rate: RateLimit = rate, done: list[int] = done) -> None:
            await rate.acquire()
            done.append(number)

        tasks = [asyncio.create_task(call(number)) for number in range(8)]
        for number, task in enumerate(tasks):
            for _ in range((seed * 7 + number * 3) % 9):
                await asyncio.sleep(0)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert rate.snapshot().used_today == len(done), seed
        await rate.flush()
        assert await stored_count(store) == len(done), seed


# --------------------------------------------------------------------------------------------
# Closing a client under native asyncio cancellation
# --------------------------------------------------------------------------------------------


async def three_calls(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(CHRONO).mock(return_value=httpx.Response(200, json=load("smarther_status.json")))
    for _ in range(3):
        await client.smarther.get_status(PLANT, MODULE)


@pytest.mark.parametrize("kind", ["file", "slow"])
@pytest.mark.asyncio
async def test_closing_under_asyncio_timeout_writes_the_count_and_closes(
    tmp_path: Path, kind: str
) -> None:
    """``asyncio.timeout`` cancels natively, which no anyio shield stops: the write still ends,
    the connections are closed, and the timeout is raised as usual."""
    store = stores(tmp_path)[kind]()
    rate = RateLimit(store=store)  # flush_delay=1 and a clock that stands still: no write yet
    with respx.mock(assert_all_called=True) as mock:
        client = client_of(rate, FakeClock(NOON))
        await three_calls(client, mock)
        assert await stored_count(store) == 0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await client.aclose()
    assert await stored_count(store) == 3
    assert client._http.is_closed


@pytest.mark.parametrize("kind", ["file", "slow"])
@pytest.mark.asyncio
async def test_a_task_cancelled_while_it_flushes_still_writes_the_count(
    tmp_path: Path, kind: str
) -> None:
    make = stores(tmp_path)[kind]
    for steps in range(1, 7):  # from its first step (a task cancelled before it runs, runs nothing)
        store = make()
        rate = RateLimit(store=store, clock=FakeClock(NOON))
        for _ in range(3):
            await rate.acquire()
        task = asyncio.create_task(rate.flush())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        for _ in range(3):  # cancelled again while it finishes the write
            await asyncio.sleep(0)
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await stored_count(store) == 3, steps


def test_a_client_closed_as_asyncio_run_cancels_its_task_writes_the_count(tmp_path: Path) -> None:
    """The program returns with a task still using the client: ``asyncio.run`` cancels it, and
    the task's ``async with`` closes the client on the way out."""
    path = tmp_path / "quota.json"
    rate = RateLimit(store=FileQuotaStore(path), clock=FakeClock(NOON))

    async def poller(started: asyncio.Event) -> None:
        async with client_of(rate, FakeClock(NOON)) as client:
            await three_calls(client, mock)
            started.set()
            await asyncio.sleep(3600)

    async def main() -> None:
        started = asyncio.Event()
        asyncio.get_running_loop().create_task(poller(started))
        await started.wait()

    with respx.mock(assert_all_called=True) as mock:
        asyncio.run(main())
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 3}


def test_a_client_in_an_async_generator_finalised_at_shutdown_writes_the_count(
    tmp_path: Path,
) -> None:
    """An async generator left suspended inside ``async with client`` is closed by
    ``asyncio.run``'s ``shutdown_asyncgens``, after every task is gone."""
    path = tmp_path / "quota.json"
    rate = RateLimit(store=FileQuotaStore(path), clock=FakeClock(NOON))

    async def statuses() -> AsyncIterator[int]:
        async with client_of(rate, FakeClock(NOON)) as client:
            await three_calls(client, mock)
            yield 3
            yield 4  # never reached

    async def main() -> None:
        generator = statuses()
        assert await generator.__anext__() == 3
        main.generator = generator  # type: ignore[attr-defined]  # kept alive until shutdown

    with respx.mock(assert_all_called=True) as mock:
        asyncio.run(main())
    assert json.loads(path.read_text()) == {"day": TODAY.isoformat(), "used": 3}
