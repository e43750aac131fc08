"""Deadlines: one shared timer on asyncio, cancel scopes on trio; never a stray cancellation."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import anyio
import pytest
import trio
import trio.testing

from legrand_async._deadline import Deadlines


@pytest.mark.asyncio
async def test_a_block_that_waits_too_long_is_cut_off() -> None:
    deadlines = Deadlines(0.0)  # due at once: the test does not wait
    with deadlines.start() as deadline:
        await anyio.sleep_forever()
    assert deadline.expired
    await asyncio.sleep(0)  # no cancellation is left pending
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_block_that_ends_in_time_leaves_nothing_behind() -> None:
    deadlines = Deadlines(0.0)
    with deadlines.start() as deadline:
        pass  # no await: the timer cannot fire inside
    assert not deadline.expired
    for _ in range(3):  # the timer fires now, for nobody
        await asyncio.sleep(0)
    assert not deadlines._running


@pytest.mark.asyncio
async def test_a_cancellation_from_outside_goes_through() -> None:
    deadlines = Deadlines(3600.0)
    reached = anyio.Event()
    outcome: list[str] = []

    async def block() -> None:
        try:
            with deadlines.start():
                reached.set()
                await anyio.sleep_forever()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(block)
        await reached.wait()
        tg.cancel_scope.cancel()
    assert outcome == ["cancelled"]
    assert not deadlines._running


@pytest.mark.asyncio
async def test_a_cancellation_from_outside_beside_the_deadline_goes_through() -> None:
    deadlines = Deadlines(0.0)
    task: asyncio.Task[None] | None = None

    async def block() -> None:
        with deadlines.start():
            assert task is not None
            task.cancel()  # someone else cancels too, before the timer fires
            await anyio.sleep_forever()

    task = asyncio.ensure_future(block())
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_many_blocks_share_one_timer() -> None:
    deadlines = Deadlines(0.0)
    loop = asyncio.get_running_loop()
    expired: list[bool] = []

    async def block() -> None:
        with deadlines.start() as deadline:
            await anyio.sleep_forever()
        expired.append(deadline.expired)

    with mock.patch.object(loop, "call_at", wraps=loop.call_at) as call_at:
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(block)
    assert expired == [True] * 100
    timers = [c for c in call_at.call_args_list if c.args[1] == deadlines._expire]
    assert len(timers) == 1


@pytest.mark.asyncio
async def test_blocks_are_cut_off_in_order_and_the_timer_set_again() -> None:
    deadlines = Deadlines(60.0)
    loop = asyncio.get_running_loop()
    now = [loop.time()]
    order: list[int] = []

    async def block(i: int) -> None:
        with deadlines.start() as deadline:
            await anyio.sleep_forever()
        assert deadline.expired
        order.append(i)

    with mock.patch.object(loop, "time", side_effect=lambda: now[0]):
        async with anyio.create_task_group() as tg:
            tg.start_soon(block, 0)
            await asyncio.sleep(0)
            now[0] += 30
            tg.start_soon(block, 1)
            await asyncio.sleep(0)
            now[0] += 31  # the first is due, the second not yet
            deadlines._expire()
            await asyncio.sleep(0)
            assert order == [0]
            assert deadlines._timer is not None
            now[0] += 30
            deadlines._expire()
    assert order == [0, 1]


def test_under_trio_it_is_a_cancel_scope() -> None:
    async def main() -> None:
        deadlines = Deadlines(5.0)
        with deadlines.start() as deadline:
            await trio.sleep_forever()
        assert deadline.expired
        assert trio.current_time() == pytest.approx(5.0)
        with deadlines.start() as deadline:
            await trio.sleep(1)
        assert not deadline.expired

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_receiver_answers_408_on_both_backends(backend: str) -> None:
    from legrand_async.webhooks import WebhookReceiver

    async def main() -> Any:
        receiver = WebhookReceiver("s3cret-0123456789abcdef", read_timeout=1e-9)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/s3cret-0123456789abcdef"}
        await receiver({**scope, "headers": []}, receive, send)
        return sent[0]["status"]

    assert anyio.run(main, backend=backend) == 408
