"""A refresh, once sent, is never wasted; every waiter is bounded by its own timeout.

The token endpoint is the simulator's, which rotates refresh tokens (the old one is revoked the
moment it is used), behind a tap that can hold its answer back after the server rotated. Waits
that must end by a timeout run under trio's MockClock (virtual time: nothing sleeps for real).
"""

from __future__ import annotations

import traceback

import anyio
import anyio.lowlevel
import httpx
import pytest

from legrand_async import (
    LegrandError,
    MemoryTokenStore,
    ReauthorizationRequired,
    Token,
    TokenRefreshTimeout,
    TransportError,
)

from ._auth_sim import TokenTap, Trickle, auth_for, client_for, rig, run_virtual


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


@pytest.mark.asyncio
async def test_a_cancelled_caller_s_refresh_is_saved_and_shared() -> None:
    """The caller that sent the refresh gives up after the server rotated: the answer is still
    saved and used by the waiter and the next call; the revoked refresh token is never sent."""
    sim, clock, tap, login = rig()
    store = MemoryTokenStore(login)
    auth = auth_for(sim, tap, store)
    tap.gate, tap.answered = anyio.Event(), anyio.Event()
    done: dict[str, object] = {}
    leader_scope = anyio.CancelScope()

    async with client_for(sim, auth) as client:

        async def leader() -> None:
            with leader_scope:
                await client.smarther.list_plants()
                done["leader"] = "finished"

        async def follower() -> None:
            done["follower"] = len(await client.smarther.list_plants())

        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await tap.answered.wait()  # the server has rotated the refresh token
            tg.start_soon(follower)
            await settle()
            leader_scope.cancel()  # the leader's caller gives up (a timeout, a cancelled task)
            await settle()
            tap.gate.set()  # ... and then the answer arrives
        stored = await store.load()
        assert stored is not None
        assert stored.refresh_token in sim.app.refresh  # the live refresh token is kept
        assert login.refresh_token not in sim.app.refresh
        tap.gate = None
        clock.advance(120)
        assert len(await client.smarther.list_plants()) == 1
    # The cancelled leader saw its cancellation once the token was saved, not before.
    assert leader_scope.cancelled_caught
    assert "leader" not in done
    assert done["follower"] == 1
    assert tap.sent == [login.refresh_token]
    assert tap.statuses == [200]


async def cancel_after(checkpoints: int) -> tuple[TokenTap, bool, bool]:
    """Cancel a first call after ``checkpoints`` checkpoints, then make a second call.

    ``(tap, whether the refresh was on the wire when cancelled, whether the first call
    finished anyway)``; the second call must work.
    """
    sim, _, tap, login = rig(latency=5)
    auth = auth_for(sim, tap, MemoryTokenStore(login))
    scope = anyio.CancelScope()
    finished: list[bool] = []
    async with client_for(sim, auth) as client:

        async def call() -> None:
            with scope:
                await client.smarther.list_plants()
                finished.append(True)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            for _ in range(checkpoints):
                await anyio.lowlevel.checkpoint()
            on_the_wire = bool(tap.sent) and not finished
            scope.cancel()
        assert len(await client.smarther.list_plants()) == 1, checkpoints
    return tap, on_the_wire, bool(finished)


@pytest.mark.asyncio
async def test_cancelling_at_every_await_never_sends_a_rotated_refresh_token() -> None:
    """Cancel the first call after 0, 1, 2... checkpoints; the next call always works and no
    refresh token is ever sent twice (the server would refuse it: it was rotated away)."""
    cancelled_on_the_wire = 0
    for checkpoints in range(40):
        tap, on_the_wire, finished = await cancel_after(checkpoints)
        assert set(tap.statuses) <= {200}, checkpoints
        assert len(set(tap.sent)) == len(tap.sent), checkpoints
        if on_the_wire:
            cancelled_on_the_wire += 1
            assert not finished  # it stopped once the token was saved, sending nothing more
    assert cancelled_on_the_wire > 0  # the sweep did cancel callers with a refresh on the wire


def test_cancelling_at_every_await_under_trio() -> None:
    """The same sweep under trio (its cancel scopes, its checkpoints)."""

    async def main() -> None:
        cancelled_on_the_wire = 0
        for checkpoints in range(0, 40, 2):
            tap, on_the_wire, finished = await cancel_after(checkpoints)
            assert set(tap.statuses) <= {200}, checkpoints
            assert len(set(tap.sent)) == len(tap.sent), checkpoints
            cancelled_on_the_wire += on_the_wire and not finished
        assert cancelled_on_the_wire > 0

    anyio.run(main, backend="trio")


def test_waiters_give_up_within_their_own_timeout_and_the_next_call_uses_the_refresh() -> None:
    async def main() -> None:
        sim, _, tap, login = rig()
        # The token endpoint answers after 30 s, within the app's own 60 s timeout.
        auth = auth_for(sim, tap, MemoryTokenStore(login), timeout=60)
        tap.gate, tap.answered = anyio.Event(), anyio.Event()
        outcomes: dict[str, tuple[object, float]] = {}

        async def run(name: str, client: object) -> None:
            start = anyio.current_time()
            try:
                await client.smarther.list_plants()  # type: ignore[attr-defined]
            except LegrandError as exc:
                outcomes[name] = (exc, anyio.current_time() - start)
            else:
                outcomes[name] = ("ok", anyio.current_time() - start)

        async with (
            client_for(sim, auth, timeout=60) as patient,
            client_for(sim, auth, timeout=5) as quick,
            client_for(sim, auth, timeout=httpx.Timeout(2, read=10)) as slower,
        ):
            with anyio.fail_after(1000):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(run, "leader", patient)
                    await tap.answered.wait()
                    tg.start_soon(run, "quick", quick)
                    tg.start_soon(run, "slower", slower)
                    await anyio.sleep(30)  # virtual seconds: both waiters are past their timeout
                    assert set(outcomes) == {"quick", "slower"}
                    tap.gate.set()
            tap.gate = None
            assert len(await quick.smarther.list_plants()) == 1  # the next call: no new refresh
        quick_error, quick_wait = outcomes["quick"]
        assert isinstance(quick_error, TokenRefreshTimeout)
        assert isinstance(quick_error, TransportError)
        assert quick_wait == pytest.approx(5)
        assert isinstance(outcomes["slower"][0], TokenRefreshTimeout)
        assert outcomes["slower"][1] == pytest.approx(10)  # the longest of its timeouts
        assert outcomes["leader"][0] == "ok"
        assert tap.sent == [login.refresh_token]

    run_virtual(main)


class TrickleTap(TokenTap):
    """The server answers (having rotated), then its answer trickles a byte a second."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if not request.url.path.endswith("/token"):
            return response
        body = await response.aread()
        return httpx.Response(
            response.status_code, headers=response.headers, stream=Trickle(body, 1.0)
        )


async def trickling(timeouts: dict[str, float]) -> dict[str, tuple[object, float]]:
    """Callers (name: its client's timeout; the first one leads) of a refresh whose answer
    trickles a byte a second; the app's own timeout is 5 s."""
    sim, _, _, login = rig()
    tap = TrickleTap(sim.transport())
    tap.answered = anyio.Event()
    auth = auth_for(sim, tap, MemoryTokenStore(login), timeout=5.0)
    outcomes: dict[str, tuple[object, float]] = {}

    async def run(name: str) -> None:
        async with client_for(sim, auth, timeout=timeouts[name]) as client:
            start = anyio.current_time()
            try:
                await client.smarther.list_plants()
            except LegrandError as exc:
                outcomes[name] = (exc, anyio.current_time() - start)
            else:
                outcomes[name] = ("ok", anyio.current_time() - start)

    leader, *waiters = timeouts
    with anyio.fail_after(10_000):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, leader)
            await tap.answered.wait()
            for name in waiters:
                tg.start_soon(run, name)
    return outcomes


def test_a_waiter_gives_up_however_slowly_the_token_endpoint_trickles() -> None:
    async def main() -> None:
        outcomes = await trickling({"leader": 5, "waiter": 3})
        error, waited = outcomes["waiter"]
        assert isinstance(error, TokenRefreshTimeout)
        assert waited == pytest.approx(3)

    run_virtual(main)


def test_the_leader_gives_up_however_slowly_the_token_endpoint_trickles() -> None:
    async def main() -> None:
        outcomes = await trickling({"leader": 5})
        error, waited = outcomes["leader"]
        assert isinstance(error, LegrandError)
        assert waited <= 5.5

    run_virtual(main)


@pytest.mark.asyncio
async def test_a_failure_shared_by_500_waiters_gives_each_a_short_traceback() -> None:
    sim, _, tap, login = rig()
    revoked = Token("AT-revoked-x", "RT-revoked-x", login.expires_at)  # unknown to the server
    auth = auth_for(sim, tap, MemoryTokenStore(revoked))
    tap.gate, tap.answered = anyio.Event(), anyio.Event()
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await auth.token()
        except ReauthorizationRequired as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(call)
        await tap.answered.wait()
        await settle(50)
        tap.gate.set()
    assert len(errors) == 500
    assert len({id(exc) for exc in errors}) == 500  # a fresh exception per waiter
    causes = {id(exc.__cause__) for exc in errors if exc.__cause__ is not None}
    assert len(causes) == 1  # ... chained to the one cause
    assert sum(exc.__cause__ is not None for exc in errors) == 499
    longest = max(len(traceback.extract_tb(exc.__traceback__)) for exc in errors)
    assert longest < 20
    printed = max(len("".join(traceback.format_exception(exc))) for exc in errors)
    assert printed < 20_000
    assert tap.sent == ["RT-revoked-x"]  # one request for all of them
    # Later calls fail fast with a fresh error too (the refusal is remembered, not re-sent).
    again = [await _error_of(auth.token()) for _ in range(50)]
    assert all(isinstance(exc, ReauthorizationRequired) for exc in again)
    assert max(len(traceback.extract_tb(exc.__traceback__)) for exc in again) < 20
    assert tap.sent == ["RT-revoked-x"]


async def _error_of(awaitable: object) -> BaseException:
    try:
        await awaitable  # type: ignore[misc]
    except BaseException as exc:
        return exc
    raise AssertionError("no error")
