"""The one single-flight mechanism (ensure_subscription and OAuth2Auth's refresh)."""

from __future__ import annotations

import traceback

import anyio
import pytest

from legrand_async import AuthError, LegrandError
from legrand_async._single_flight import SingleFlight, fresh


class Uncopyable(Exception):
    def __new__(cls, *args: object) -> Uncopyable:
        if args and args[0] == "copy":
            raise TypeError("no copies")
        return super().__new__(cls, *args)

    def __init__(self, *args: object) -> None:
        super().__init__("copy")


def test_an_uncopyable_error_becomes_the_documented_fallback_chained_to_it() -> None:
    cause = Uncopyable()
    general = fresh(cause)
    assert type(general) is LegrandError
    assert general.__cause__ is cause
    auth = fresh(cause, AuthError)
    assert type(auth) is AuthError
    assert auth.__cause__ is cause
    assert "Uncopyable" in str(auth)


def test_a_copy_keeps_class_args_and_attributes() -> None:
    cause = AuthError("refused", code="AADB2C90080")
    copy = fresh(cause, AuthError)
    assert type(copy) is AuthError
    assert copy is not cause
    assert (copy.message, copy.code, copy.__cause__) == ("refused", "AADB2C90080", cause)


@pytest.mark.anyio
async def test_waiters_share_one_run_and_each_gets_its_own_error() -> None:
    flight: SingleFlight[int] = SingleFlight()
    gate = anyio.Event()
    runs = 0
    errors: list[BaseException] = []

    async def work() -> int:
        nonlocal runs
        runs += 1
        await gate.wait()
        raise Uncopyable()

    async def call() -> None:
        try:
            await flight.run("k", work)
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert runs == 1
    assert len({id(e) for e in errors}) == 50
    leader = [e for e in errors if e.__cause__ is None]
    assert len(leader) == 1
    assert isinstance(leader[0], Uncopyable)
    others = [e for e in errors if e.__cause__ is not None]
    assert all(type(e) is LegrandError and e.__cause__ is leader[0] for e in others)
    assert max(len(traceback.extract_tb(e.__traceback__)) for e in others) < 10


@pytest.mark.anyio
async def test_a_waiter_gives_up_at_its_own_deadline_and_the_work_goes_on() -> None:
    flight: SingleFlight[int] = SingleFlight(timeout=lambda: TimeoutError("late"))
    gate = anyio.Event()
    got: list[object] = []

    async def work() -> int:
        await gate.wait()
        return 7

    async def leader() -> None:
        got.append(await flight.run("k", work))

    async def waiter() -> None:
        try:
            await flight.run("k", work, deadline=anyio.current_time())  # no time left
        except TimeoutError as exc:
            got.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(leader)
        await anyio.wait_all_tasks_blocked()
        await waiter()
        assert isinstance(got[0], TimeoutError)
        assert flight.busy("k")  # the work goes on
        gate.set()
    assert got[1] == 7


@pytest.mark.anyio
async def test_a_leader_cancelled_before_any_outcome_hands_over_to_a_waiter() -> None:
    flight: SingleFlight[str] = SingleFlight()
    runs: list[str] = []
    result: list[str] = []

    async def work(who: str) -> str:
        runs.append(who)
        if who == "leader":
            await anyio.sleep_forever()
        return who

    scope = anyio.CancelScope()

    async def leader() -> None:
        with scope:
            await flight.run("k", lambda: work("leader"))

    async def waiter() -> None:
        result.append(await flight.run("k", lambda: work("waiter")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(leader)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert runs == ["leader"]
        assert result == []
        scope.cancel()
    assert runs == ["leader", "waiter"]
    assert result == ["waiter"]
