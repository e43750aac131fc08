"""Deadlines: one shared timer on asyncio, cancel scopes on trio; never a stray cancellation,
never a swallowed one, never early."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import anyio
import anyio.lowlevel
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async._deadline import Deadlines
from legrand_async.webhooks import WebhookReceiver

from .webhook_helpers import SECRET, call


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
    async def main() -> Any:
        receiver = WebhookReceiver(SECRET, read_timeout=1e-9)
        return (await call(receiver, None)).status  # a body that never comes

    assert anyio.run(main, backend=backend) == 408


# ------------------------------------------------------------- cancellations from elsewhere


def _due_now(deadlines: Deadlines) -> None:
    """Fire the shared timer as if every running block's deadline had passed."""
    for deadline in deadlines._running:
        deadlines._running[deadline] = 0.0
    deadlines._expire()


@pytest.mark.asyncio
@pytest.mark.parametrize("first", ["deadline", "outer cancel"])
async def test_a_deadline_and_an_outer_cancellation_at_once_keep_the_outer_one(first: str) -> None:
    """Both land while the task waits (in either order): the task is cancelled, not told that
    its deadline passed, and its cancellation count is consistent (uvicorn's shutdown)."""
    deadlines = Deadlines(3600.0)
    entered = anyio.Event()
    outcome: list[str] = []

    async def block() -> None:
        with deadlines.start() as deadline:
            entered.set()
            await anyio.sleep_forever()
        outcome.append(f"suppressed, expired={deadline.expired}")  # pragma: no cover

    task = asyncio.ensure_future(block())
    await entered.wait()
    if first == "deadline":
        _due_now(deadlines)
        task.cancel()
    else:
        task.cancel()
        _due_now(deadlines)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome == []
    assert task.cancelling() == 1  # the outer cancel; the deadline's was undone
    assert not deadlines._running


@pytest.mark.asyncio
async def test_an_asyncio_timeout_outside_due_at_the_same_time_still_raises() -> None:
    deadlines = Deadlines(0.0)

    async def both() -> None:
        async with asyncio.timeout(0):
            with deadlines.start():
                await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await both()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_deadline_inside_an_asyncio_timeout_is_only_the_deadline() -> None:
    deadlines = Deadlines(0.0)
    async with asyncio.timeout(3600):
        with deadlines.start() as deadline:
            await anyio.sleep_forever()
    assert deadline.expired
    with deadlines.start() as deadline:  # and an asyncio.timeout inside the block
        async with asyncio.timeout(3600):
            await anyio.sleep_forever()
    assert deadline.expired
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_an_anyio_scope_cancelled_at_the_deadline_still_catches_its_own() -> None:
    """anyio delivers a scope's cancellation at every checkpoint until the task leaves the
    scope: when the deadline's cancellation lands first, the scope's comes at the next one."""
    deadlines = Deadlines(3600.0)
    with anyio.CancelScope() as outer:
        with deadlines.start():
            outer.cancel()
            _due_now(deadlines)
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        pytest.fail("the scope's cancellation was lost")  # pragma: no cover
    assert outer.cancelled_caught
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await anyio.lowlevel.checkpoint()  # and nothing is left to cancel the task later


@pytest.mark.asyncio
async def test_a_task_group_inside_the_block_is_cut_off_with_it() -> None:
    deadlines = Deadlines(0.0)
    with deadlines.start() as deadline:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            await anyio.sleep_forever()
    assert deadline.expired
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


def test_under_trio_an_outer_cancellation_goes_through() -> None:
    async def main() -> None:
        deadlines = Deadlines(5.0)
        with trio.move_on_after(1) as outer:
            with deadlines.start() as deadline:
                await trio.sleep_forever()
        assert outer.cancelled_caught
        assert not deadline.expired
        assert trio.current_time() == pytest.approx(1.0)
        with trio.CancelScope() as outer, deadlines.start() as deadline:
            outer.deadline = trio.current_time() + 5.0  # the same instant as the deadline
            await trio.sleep_forever()
        assert outer.cancelled_caught or deadline.expired

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# --------------------------------------------------------------------------- never early


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["start", "expire"]), st.floats(0, 10)), max_size=30))
def test_a_block_is_cut_off_exactly_when_its_deadline_has_passed(steps: list[Any]) -> None:
    """However the timer fires (early, late, extra times), a block is cut off at an expiry
    when its deadline has passed, and never before."""

    async def main() -> None:
        deadlines = Deadlines(5.0)
        loop = asyncio.get_running_loop()
        now = [0.0]
        due: dict[int, float] = {}
        cut: dict[int, float] = {}

        async def block(i: int) -> None:
            with deadlines.start() as deadline:
                await anyio.sleep_forever()
            assert deadline.expired
            cut[i] = now[0]

        with mock.patch.object(loop, "time", side_effect=lambda: now[0]):
            async with anyio.create_task_group() as tg:
                for kind, advance in steps:
                    now[0] += advance
                    if kind == "start":
                        due[len(due)] = now[0] + 5.0
                        tg.start_soon(block, len(due) - 1)
                    elif deadlines._loop is not None:  # the timer exists once a block started
                        deadlines._expire()
                    for _ in range(3):
                        await asyncio.sleep(0)
                    assert all(cut[i] >= due[i] for i in cut)  # never early
                    assert all(i in cut or kind == "start" or due[i] > now[0] for i in due)
                tg.cancel_scope.cancel()

    asyncio.run(main())


# ------------------------------------------------------------------- one loop, then another


def test_blocks_left_in_a_closed_loop_do_not_stop_the_next_loop() -> None:
    """A receiver outlives an event loop that was closed with a request still waiting in its
    body (a test suite's loop, a restarted app): the next loop's deadlines still fire."""
    receiver = WebhookReceiver(SECRET, read_timeout=0.01)

    old = asyncio.new_event_loop()
    stranded = old.create_task(call(receiver, None))
    old.run_until_complete(asyncio.sleep(0))
    old.close()  # closed with the request inside its deadline

    async def main() -> int | None:
        with anyio.fail_after(5):
            return (await call(receiver, None)).status

    try:
        assert asyncio.run(main()) == 408
    finally:
        stranded._log_destroy_pending = False  # type: ignore[attr-defined]
