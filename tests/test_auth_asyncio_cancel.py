"""asyncio's own cancellation, as Home Assistant and most asyncio code use it: ``asyncio.wait_for``,
``asyncio.timeout`` and ``task.cancel()`` pierce anyio's shielded scopes. A refresh on the wire
must still complete, be saved and become current, and no rotated-away refresh token may ever
be sent. The token endpoint is the simulator's (it revokes a refresh token once used), behind
a tap that holds its answer back; timeouts are fired by the test (``Timeout.reschedule``), so
nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from legrand_async import FileTokenStore, LegrandClient, MemoryTokenStore, Token, TokenStore

from ._auth_sim import TokenTap, auth_for, client_for, rig


async def settle(rounds: int = 30) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def live(sim: Any, token: Token | None) -> bool:
    """Whether ``token``'s refresh token is one the server still accepts."""
    return token is not None and token.refresh_token in sim.app.refresh


def jump(seconds: float) -> None:
    """Move the running loop's clock on by ``seconds``: its timers (``asyncio.wait_for``,
    ``asyncio.timeout``) that are due fire at its next turn, without sleeping."""
    loop = asyncio.get_running_loop()
    earlier = loop.time
    loop.time = lambda: earlier() + seconds  # type: ignore[method-assign]  # this test's loop


async def by_wait_for(call: Callable[[], Awaitable[Any]]) -> Any:
    return await asyncio.wait_for(call(), 10)


async def by_timeout(call: Callable[[], Awaitable[Any]]) -> Any:
    async with asyncio.timeout(10):
        return await call()


async def by_task_cancel(call: Callable[[], Awaitable[Any]]) -> Any:
    return await call()  # the test cancels the task itself


@pytest.mark.parametrize(
    ("how", "raised"),
    [
        (by_wait_for, TimeoutError),
        (by_timeout, TimeoutError),
        (by_task_cancel, asyncio.CancelledError),
    ],
    ids=["wait_for", "asyncio.timeout", "task.cancel"],
)
@pytest.mark.asyncio
async def test_an_asyncio_cancelled_leader_s_refresh_is_saved_and_used(
    how: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]],
    raised: type[BaseException],
) -> None:
    """The caller gives up (its 10 s are over) while the server, which has rotated the refresh
    token, still holds its answer back; the answer arrives later: it is saved and used."""
    sim, clock, tap, login = rig()
    store = MemoryTokenStore(login)
    auth = auth_for(sim, tap, store, timeout=60)
    tap.gate, tap.answered = anyio.Event(), anyio.Event()
    async with client_for(sim, auth) as client:
        leader = asyncio.create_task(how(client.smarther.list_plants))
        await tap.answered.wait()  # the server has rotated the refresh token
        jump(11)
        if how is by_task_cancel:
            leader.cancel()
        await settle()
        assert not leader.done()  # it waits for the answer (bounded by the app's timeout)
        tap.gate.set()
        with pytest.raises(raised):
            await leader
        assert live(sim, await store.load())
        assert not live(sim, login)
        tap.gate = None
        clock.advance(120)
        assert len(await client.smarther.list_plants()) == 1
    assert tap.sent == [login.refresh_token]
    assert tap.statuses == [200]


async def native_cancel_after(checkpoints: int, store: TokenStore) -> tuple[TokenTap, bool]:
    """``task.cancel()`` on a first call after ``checkpoints`` loop turns, then a second call.

    ``(tap, whether the refresh was on the wire when the first call was cancelled)``.
    """
    sim, _, tap, login = rig(latency=5)
    await store.save(login)
    auth = auth_for(sim, tap, store)
    async with client_for(sim, auth) as client:
        first = asyncio.create_task(client.smarther.list_plants())
        for _ in range(checkpoints):
            await asyncio.sleep(0)
        on_the_wire = bool(tap.sent) and not first.done()
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        assert len(await client.smarther.list_plants()) == 1, checkpoints
    assert live(sim, await store.load()), checkpoints
    return tap, on_the_wire


@pytest.mark.asyncio
async def test_task_cancel_at_every_await_never_sends_a_rotated_refresh_token() -> None:
    on_the_wire = 0
    for checkpoints in range(40):
        tap, sent = await native_cancel_after(checkpoints, MemoryTokenStore())
        assert set(tap.statuses) <= {200}, checkpoints
        assert len(set(tap.sent)) == len(tap.sent), checkpoints
        on_the_wire += sent
    assert on_the_wire > 0  # the sweep did cancel callers whose refresh was on the wire


@pytest.mark.asyncio
async def test_task_cancel_at_every_await_with_a_token_file(tmp_path: Path) -> None:
    """The same with ``FileTokenStore``: its lock and its worker threads outlast the cancel."""
    for checkpoints in range(0, 40, 3):
        path = tmp_path / f"token-{checkpoints}.json"
        tap, _ = await native_cancel_after(checkpoints, FileTokenStore(path))
        assert set(tap.statuses) <= {200}, checkpoints
        assert len(set(tap.sent)) == len(tap.sent), checkpoints
        async with FileTokenStore(path).lock(0):  # nobody holds the lock any more
            pass


@pytest.mark.asyncio
async def test_many_callers_with_their_own_asyncio_timeouts_share_one_refresh() -> None:
    """60 callers, each under its own ``asyncio.timeout``; the test fires a third of the
    timeouts before the server answers and a third after: those raise TimeoutError, the others
    get the plants, and a single refresh serves them all (and the next call)."""
    sim, clock, tap, login = rig()
    store = MemoryTokenStore(login)
    auth = auth_for(sim, tap, store)
    tap.gate, tap.answered = anyio.Event(), anyio.Event()
    timeouts: dict[int, asyncio.Timeout] = {}
    outcomes: dict[int, object] = {}

    async def caller(n: int, client: LegrandClient) -> None:
        try:
            async with asyncio.timeout(None) as timeout:
                timeouts[n] = timeout
                outcomes[n] = len(await client.smarther.list_plants())
        except TimeoutError:
            outcomes[n] = "timeout"

    def fire(callers: range) -> None:
        for n in callers:
            if n not in outcomes:
                timeouts[n].reschedule(loop.time())

    loop = asyncio.get_running_loop()
    async with client_for(sim, auth) as client:
        tasks = [asyncio.create_task(caller(n, client)) for n in range(60)]
        await tap.answered.wait()
        await settle()
        fire(range(0, 60, 3))  # the leader (caller 0) is among them
        await settle()
        assert outcomes == {n: "timeout" for n in range(3, 60, 3)}  # the leader still waits
        tap.gate.set()
        fire(range(1, 60, 3))
        await asyncio.gather(*tasks)
        tap.gate = None
        clock.advance(120)
        assert len(await client.smarther.list_plants()) == 1
    assert [outcomes[n] for n in range(0, 60, 3)] == ["timeout"] * 20
    assert {outcomes[n] for n in range(1, 60, 3)} <= {"timeout", 1}
    assert [outcomes[n] for n in range(2, 60, 3)] == [1] * 20
    assert tap.sent == [login.refresh_token]
    assert live(sim, await store.load())


@pytest.mark.asyncio
async def test_a_waiter_cancelled_while_another_auth_holds_the_file_lock(tmp_path: Path) -> None:
    """Two auths on one token file: the second one waits for the first one's lock (in worker
    threads) and is cancelled there by asyncio; the lock is not leaked, the first one's refresh
    is saved, and the second one then reads it instead of refreshing."""
    sim, _, tap, login = rig()
    path = tmp_path / "token.json"
    FileTokenStore(path).save_sync(login)
    first = auth_for(sim, tap, FileTokenStore(path))
    second = auth_for(sim, tap, FileTokenStore(path))
    tap.gate, tap.answered = anyio.Event(), anyio.Event()
    async with client_for(sim, first) as a, client_for(sim, second) as b:
        leader = asyncio.create_task(a.smarther.list_plants())
        await tap.answered.wait()
        waiter = asyncio.create_task(b.smarther.list_plants())
        for _ in range(5):
            await asyncio.sleep(0.01)  # it is in a worker thread, trying the lock
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        tap.gate.set()
        assert len(await leader) == 1
        tap.gate = None
        assert len(await b.smarther.list_plants()) == 1
    assert tap.sent == [login.refresh_token]
    stored = FileTokenStore(path).load_sync()
    assert live(sim, stored)
    assert (await second.token()) == stored
    async with FileTokenStore(path).lock(0):
        pass
