"""The poller: change detection, the budget-derived interval, errors outlived, fair rounds,
clean cancellation, discovery, and the generic ``client.poll``.

Time is a FakeClock (sleeping moves it at once); ``run_for`` iterates a poller until a stretch
of fake time has passed. Nothing here sleeps for real.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

from legrand_async import (
    Change,
    ChronothermostatStatus,
    LegrandClient,
    MemoryTokenStore,
    Mode,
    OAuth2Auth,
    Poller,
    QuotaExhausted,
    RateLimit,
    RetryPolicy,
    ServerError,
    SetStatus,
    StatusChange,
    ThermostatPoller,
    TransportError,
    Unauthorized,
)
from legrand_async._poller import DEFAULT_INTERVAL, RETRY_FIRST, thermostat_state
from legrand_async.simulator import Simulator, Thermostat

from .conftest import BASE, FakeClock, make_client

NO_WAIT = RetryPolicy(initial_delay=0, max_delay=0, jitter=0)
ONE_TRY = RetryPolicy(max_attempts=1)
C = TypeVar("C")


class TimeUp(Exception):
    """The fake clock reached the test's deadline."""


class Clock(FakeClock):
    """A FakeClock that stops the test when a sleep would pass ``deadline`` (monotonic)."""

    def __init__(self, start: datetime = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)) -> None:
        super().__init__(start)
        self.deadline: float | None = None

    async def sleep(self, seconds: float) -> None:
        if self.deadline is not None and self.monotonic() + seconds >= self.deadline:
            self.advance(max(0.0, self.deadline - self.monotonic()))
            raise TimeUp
        await super().sleep(seconds)

    def at(self, hour: int, minute: int = 0) -> None:
        """Move to ``hour:minute`` UTC today (forward only)."""
        target = self.now().replace(hour=hour, minute=minute, second=0, microsecond=0)
        self.advance((target - self.now()).total_seconds())


async def run_for(poller: AsyncIterator[C], clock: Clock, seconds: float) -> list[C]:
    """Every change the poller yields in the next ``seconds`` of fake time."""
    clock.deadline = clock.monotonic() + seconds
    changes: list[C] = []
    try:
        async for change in poller:
            changes.append(change)
    except TimeUp:
        pass
    else:  # pragma: no cover - a poller only ends when closed
        raise AssertionError("the poller ended by itself")
    finally:
        clock.deadline = None
    return changes


async def take(poller: AsyncIterator[C], count: int) -> list[C]:
    """The next ``count`` changes."""
    changes: list[C] = []
    async for change in poller:
        changes.append(change)
        if len(changes) == count:
            break
    return changes


def fleet(clock: Clock, plants: int = 3, per_plant: int = 2, **kwargs: Any) -> Simulator:
    return Simulator.fleet(
        plants=plants, thermostats_per_plant=per_plant, seed=0, clock=clock, **kwargs
    )


@asynccontextmanager
async def sim_client(
    sim: Simulator,
    clock: Clock,
    *,
    per_second: float | None = None,
    per_day: int | None = 500,
    **kwargs: Any,
) -> AsyncIterator[LegrandClient]:
    """A client of the simulator, signed in (its tokens refresh), with a limiter of its own."""
    kwargs.setdefault("retry", NO_WAIT)
    if "access_token" not in kwargs:
        token = await sim.sign_in()
        kwargs["auth"] = OAuth2Auth(sim.oauth_app(), MemoryTokenStore(token), clock=clock)
    limit = RateLimit(per_second=per_second, per_day=per_day, clock=clock)
    async with sim.client(clock=clock, rate_limit=limit, **kwargs) as client:
        yield client


def thermostats(sim: Simulator) -> list[tuple[str, str]]:
    return [(p.id, t.id) for p in sim.plants for t in p.thermostats]


def task_count() -> int:
    return len(asyncio.all_tasks())


# --------------------------------------------------------------------------------------------
# Respx: statuses under the test's control
# --------------------------------------------------------------------------------------------


def ids(n: int) -> tuple[str, str]:
    return str(uuid.UUID(int=1000 + n, version=4)), str(uuid.UUID(int=2000 + n, version=4))


def status_url(plant: str, module: str) -> str:
    return (
        f"{BASE}/smarther/v2.0/chronothermostat/thermoregulation/addressLocation/plants/{plant}"
        f"/modules/parameter/id/value/{module}"
    )


def status_body(
    plant: str,
    module: str,
    *,
    mode: str = "AUTOMATIC",
    setpoint: str = "18.00000",
    temperature: str = "19.5",
    stamp: str = "2021-02-27T22:49:32+02:00",
) -> dict[str, Any]:
    def measure(value: str, unit: str) -> dict[str, str]:
        return {"timeStamp": stamp, "value": value, "unit": unit}

    return {
        "chronothermostats": [
            {
                "function": "HEATING",
                "mode": mode,
                "setPoint": {"value": setpoint, "unit": "C"},
                "programs": [{"number": 1}],
                "temperatureFormat": "C",
                "loadState": "INACTIVE",
                "time": stamp,
                "thermometer": {
                    "measures": [{"timeStamp": stamp, "value": temperature, "unit": "C"}]
                },
                "hygrometer": {"measures": [{"timeStamp": stamp, "value": "61.9", "unit": "%"}]},
                "sender": {
                    "addressType": "addressLocation",
                    "system": "thermoregulation",
                    "plant": {"id": plant, "module": {"id": module}},
                },
            }
        ]
    }


@asynccontextmanager
async def respx_client(clock: Clock, **kwargs: Any) -> AsyncIterator[LegrandClient]:
    kwargs.setdefault("retry", NO_WAIT)
    async with make_client(clock, **kwargs) as client:
        yield client


@pytest.fixture
def fake() -> Clock:
    return Clock()


# --------------------------------------------------------------------------------------------
# Change detection
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_first_cycle_yields_every_thermostat_found(fake: Clock) -> None:
    sim = fleet(fake, plants=3, per_plant=2)
    async with sim_client(sim, fake) as client, client.poll_thermostats() as poller:
        assert isinstance(poller, ThermostatPoller)
        first = await take(poller, 6)
        assert poller.cycles == 1
    assert all(isinstance(c, StatusChange) and c.previous is None for c in first)
    assert sorted(c.target for c in first) == sorted(thermostats(sim))
    assert sorted(poller.targets) == sorted(thermostats(sim))
    for change in first:
        assert isinstance(change.current, ChronothermostatStatus)
        assert change.current.module_id == change.module_id
        assert change.current.plant_id == change.plant_id
    # One list_plants, three topologies, six statuses.
    assert sim.calls_today == 1 + 3 + 6
    assert poller.polls == 6
    assert not poller.errors


@pytest.mark.asyncio
async def test_modules_that_are_not_thermostats_are_left_out(
    fake: Clock, mock: respx.MockRouter
) -> None:
    plant, module = ids(0)
    mock.get("/smarther/v2.0/plants").respond(json={"plants": [{"id": plant, "name": "Casa"}]})
    modules = [
        {"device": "ChronoThermostat", "id": module, "name": "Living"},
        {"device": "smokedetector", "id": ids(1)[1], "name": "Hall"},
    ]
    mock.get(f"/smarther/v2.0/plants/{plant}/topology").respond(
        json={"plant": {"id": plant, "name": "Casa", "modules": modules}}
    )
    mock.get(status_url(plant, module)).respond(json=status_body(plant, module))
    async with respx_client(fake) as client, client.poll_thermostats(interval=60) as poller:
        changes = await run_for(poller, fake, 300)
    assert poller.targets == ((plant, module),)
    assert [c.target for c in changes] == [(plant, module)]


@pytest.mark.asyncio
async def test_an_unchanged_status_yields_nothing_after_the_first_cycle(
    fake: Clock, mock: respx.MockRouter
) -> None:
    targets = [ids(0), ids(1)]
    routes = [mock.get(status_url(p, m)).respond(json=status_body(p, m)) for p, m in targets]
    async with respx_client(fake) as client:
        poller = client.poll_thermostats(targets, interval=60)
        changes = await run_for(poller, fake, 600)
    assert [c.target for c in changes] == targets
    assert poller.cycles == 10  # read at 0, 60, ..., 540
    assert [r.call_count for r in routes] == [10, 10]
    assert poller.polls == 20
    assert not poller.errors


@pytest.mark.asyncio
async def test_the_device_clock_and_measure_timestamps_are_not_changes(
    fake: Clock, mock: respx.MockRouter
) -> None:
    plant, module = ids(0)
    reads = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal reads
        reads += 1
        stamp = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=reads)).isoformat()
        setpoint = "21.00000" if reads >= 4 else "18.00000"
        mode = "MANUAL" if reads >= 4 else "AUTOMATIC"
        body = status_body(plant, module, stamp=stamp, mode=mode, setpoint=setpoint)
        return httpx.Response(200, json=body)

    mock.get(status_url(plant, module)).mock(side_effect=answer)
    async with respx_client(fake) as client:
        poller = client.poll_thermostats([(plant, module)], interval=10)
        changes = await run_for(poller, fake, 55)
    assert reads == 6
    assert len(changes) == 2
    first, second = changes
    assert first.previous is None
    # previous is the latest read: the same state as the first change, later clocks.
    assert second.previous is not None
    assert first.current.time is not None
    assert second.previous.time is not None
    assert thermostat_state(second.previous) == thermostat_state(first.current)
    assert second.previous.time > first.current.time
    assert second.previous.mode is Mode.AUTOMATIC
    assert second.previous.setpoint == 18.0
    assert second.current.mode is Mode.MANUAL
    assert second.current.setpoint == 21.0
    latest = poller.value((plant, module))  # the 6th read: the same state, a later clock
    assert latest is not None
    assert thermostat_state(latest) == thermostat_state(second.current)
    assert latest.time != second.current.time


def test_the_thermostat_state_leaves_out_the_clocks() -> None:
    from legrand_async._converters import structure

    plant, module = ids(0)
    a = structure(status_body(plant, module)["chronothermostats"][0], ChronothermostatStatus)
    b = structure(
        status_body(plant, module, stamp="2030-01-01T00:00:00+00:00")["chronothermostats"][0],
        ChronothermostatStatus,
    )
    c = structure(
        status_body(plant, module, temperature="19.6")["chronothermostats"][0],
        ChronothermostatStatus,
    )
    assert a != b
    assert thermostat_state(a) == thermostat_state(b)
    assert thermostat_state(a) != thermostat_state(c)


@pytest.mark.asyncio
async def test_a_status_set_by_another_client_shows_as_a_change(fake: Clock) -> None:
    sim = fleet(fake, plants=3, per_plant=2)
    targets = thermostats(sim)
    plant, module = targets[3]
    async with (
        sim_client(sim, fake, per_day=None) as client,
        sim_client(sim, fake, per_day=None) as other,
    ):
        poller = client.poll_thermostats(targets, interval=2)
        assert len(await take(poller, 6)) == 6
        before = poller.value((plant, module))
        assert before is not None
        assert before.mode is Mode.AUTOMATIC
        await other.smarther.set_status(plant, module, SetStatus.manual(23.5))
        changes = await run_for(poller, fake, 6)
        await poller.aclose()
    mine = [c for c in changes if c.target == (plant, module)]
    assert len(mine) == 1, changes
    assert mine[0].previous is before
    assert mine[0].current.mode is Mode.MANUAL
    assert mine[0].current.setpoint == 23.5
    # A few seconds later, the other thermostats read the same.
    assert [c.target for c in changes] == [(plant, module)]


@pytest.mark.asyncio
async def test_explicit_targets_skip_discovery(fake: Clock) -> None:
    sim = fleet(fake, plants=4, per_plant=1)
    targets = thermostats(sim)[:2]
    async with sim_client(sim, fake, per_day=None) as client:
        poller = client.poll_thermostats(targets, interval=30)
        changes = await run_for(poller, fake, 90)
    assert sorted({c.target for c in changes}) == sorted(targets)
    assert poller.targets == tuple(targets)
    assert sim.calls_today == poller.polls == 6  # statuses only: no list_plants, no topology


@pytest.mark.asyncio
async def test_discovery_is_refreshed_and_follows_the_fleet(fake: Clock) -> None:
    sim = fleet(fake, plants=2, per_plant=1)
    async with sim_client(sim, fake, per_day=None) as client:
        poller = client.poll_thermostats(interval=3600, discovery_interval=6 * 3600)
        first = await take(poller, 2)
        assert {c.previous for c in first} == {None}
        gone = sim.plants[1].thermostats.pop()
        new = Thermostat(
            id=str(uuid.UUID(int=77, version=4)),
            name="Attic",
            plant_id=sim.plants[0].id,
            base_temperature=20.0,
            base_humidity=50.0,
            phase=0.0,
        )
        sim.plants[0].thermostats.append(new)
        changes = await run_for(poller, fake, 7 * 3600)
    assert (sim.plants[0].id, new.id) in poller.targets
    assert (sim.plants[1].id, gone.id) not in poller.targets
    assert poller.value((sim.plants[1].id, gone.id)) is None
    news = [c for c in changes if c.module_id == new.id]
    assert news
    assert news[0].previous is None
    # Before the refresh the removed thermostat was an error (404), counted, not raised.
    assert poller.errors["NotFound"] >= 1


# --------------------------------------------------------------------------------------------
# The budget
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_interval_spreads_the_budget_but_the_reserve_to_the_reset(fake: Clock) -> None:
    sim = fleet(fake, plants=50, per_plant=2)
    targets = thermostats(sim)
    fake.at(14)  # ten hours to the reset at midnight UTC
    async with sim_client(sim, fake, per_day=500) as client:
        poller = client.poll_thermostats(targets, reserve=0.2)
        await take(poller, 1)
        # 500 calls left, 20% of 500 kept: 400 to spend on 100 targets in 10 h.
        assert poller.interval == 10 * 3600 / (400 / 100)
        await poller.aclose()

        # Later that day, 150 calls spent: 350 left, 100 kept -> 250 to spend in 8 h.
        fake.at(16)
        quota = client.quota
        assert quota is not None
        for plant, module in (targets * 2)[: 150 - quota.used_today]:
            await client.smarther.get_status(plant, module)
        quota = client.quota
        assert quota is not None
        assert quota.remaining_today == 350
        poller = client.poll_thermostats(targets, reserve=0.2)
        await take(poller, 1)
        assert poller.interval == 8 * 3600 / (250 / 100)
        await poller.aclose()


@pytest.mark.asyncio
async def test_the_leftover_is_not_spent_in_a_burst_before_the_reset(fake: Clock) -> None:
    sim = fleet(fake, plants=1, per_plant=2)
    fake.at(23, 59)
    async with sim_client(sim, fake, per_day=500) as client:
        poller = client.poll_thermostats(thermostats(sim), reserve=0.2)
        await run_for(poller, fake, 120)
    # A minute to the reset counts as an hour: 400 calls to spend, 2 targets -> every 18 s.
    assert poller.interval is not None
    assert poller.interval >= 3600 * 2 / 400
    assert poller.polls <= 2 + 2 * 120 / 18 + 2


@pytest.mark.asyncio
async def test_the_budget_is_spread_evenly_and_the_reserve_is_left_at_the_reset(
    fake: Clock,
) -> None:
    sim = fleet(fake, plants=5, per_plant=2)
    fake.at(14)
    hours: Counter[int] = Counter()
    async with sim_client(sim, fake, per_day=500) as client:

        async def fetch(target: tuple[str, str]) -> ChronothermostatStatus:
            hours[fake.now().hour] += 1
            return await client.smarther.get_status(*target)

        poller = client.poll(fetch, thermostats(sim), reserve=0.2)
        await run_for(poller, fake, 10 * 3600 - 1)
        quota = client.quota
    assert quota is not None
    assert quota.remaining_today is not None
    # The first cycle (10 reads) at once, then the rest of the 400 spread to midnight, and
    # the 100 of the reserve left for the user's own commands.
    # (the last hour a little slower: the time to the reset counts as an hour at least).
    assert 385 <= poller.polls <= 400
    assert 100 <= quota.remaining_today <= 115
    assert not poller.errors
    assert sorted(hours) == list(range(14, 24))
    assert max(hours.values()) - min(hours.values()) <= 12, hours  # about 40 an hour


@pytest.mark.asyncio
async def test_reads_are_spread_evenly_over_the_interval(fake: Clock) -> None:
    stamps: list[float] = []

    async def fetch(target: int) -> int:
        stamps.append(fake.monotonic())
        return 0

    async with respx_client(fake) as client:
        poller = client.poll(fetch, range(10), interval=100, concurrency=2)
        await run_for(poller, fake, 350)
    # The first cycle at once, then a batch of 2 every 20 s.
    assert stamps[:10] == [1000.0] * 10
    gaps = {round(b - a, 6) for a, b in zip(stamps[10::2], stamps[12::2], strict=False)}
    assert gaps == {20.0}
    assert stamps[10] == 1100.0
    assert poller.interval == 100


@pytest.mark.asyncio
async def test_batches_due_within_a_second_are_read_together(fake: Clock) -> None:
    stamps: list[float] = []

    async def fetch(target: int) -> int:
        stamps.append(fake.monotonic())
        return 0

    async with respx_client(fake) as client:
        # 100 targets every 10 s, 4 at a time: a batch each 0.4 s, so two per step, 0.8 s apart.
        poller = client.poll(fetch, range(100), interval=10, concurrency=4)
        await run_for(poller, fake, 39.9)
    later = [round(s - 1010.0, 6) for s in stamps[100:]]
    assert later[:16] == [0.0] * 8 + [0.8] * 8
    per_cycle = Counter(int(s // 10) for s in later)
    assert per_cycle == Counter({0: 100, 1: 100, 2: 100})


@pytest.mark.asyncio
async def test_never_faster_than_the_per_second_limit(fake: Clock) -> None:
    stamps: list[float] = []

    async def fetch(target: int) -> int:
        stamps.append(fake.monotonic())
        return target

    fake.at(14)
    limit = RateLimit(per_second=2, per_day=1_000_000, clock=fake)
    async with respx_client(fake, rate_limit=limit) as client:
        poller = client.poll(fetch, range(100))
        await run_for(poller, fake, 200)
        # The budget alone would allow a read of each every 4.5 s; 2 a second allow 50 s.
        assert poller.interval == 50.0
        assert poller.concurrency == 2
    assert len(stamps) >= 300
    for i, stamp in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < stamp + 1.0]
        assert len(in_window) <= 2


@pytest.mark.asyncio
async def test_without_a_daily_quota_the_default_interval_applies(fake: Clock) -> None:
    async def fetch(target: str) -> str:
        return target

    async with respx_client(fake, rate_limit=None) as client:
        poller = client.poll(fetch, ["a", "b"])
        await run_for(poller, fake, 10)
        assert poller.interval == DEFAULT_INTERVAL == 300.0
    async with respx_client(fake, rate_limit=RateLimit(per_day=None, per_second=0.001)) as client:
        poller = client.poll(fetch, ["a", "b"])
        await run_for(poller, fake, 10)
        assert poller.interval == 2000.0  # 2 targets at one read per 1000 s


@pytest.mark.asyncio
async def test_an_explicit_interval_is_kept_when_the_budget_allows_it(fake: Clock) -> None:
    async def fetch(target: str) -> str:
        return target

    limit = RateLimit(per_day=100_000, clock=fake)
    async with respx_client(fake, rate_limit=limit) as client:
        poller = client.poll(fetch, ["a", "b"], interval=7)
        await run_for(poller, fake, 30)
        assert poller.interval == 7
        assert poller.cycles == 5  # 0, 7, 14, 21, 28


@pytest.mark.asyncio
async def test_an_explicit_interval_is_stretched_so_that_the_reserve_holds(fake: Clock) -> None:
    reads = 0

    async def fetch(target: str) -> str:
        nonlocal reads
        reads += 1
        await limit.acquire()  # every read spends a call, as a real one does
        return target

    limit = RateLimit(per_day=10, clock=fake)  # 12:00, reserve 20 %: 8 calls to spend today
    async with respx_client(fake, rate_limit=limit) as client:
        poller = client.poll(fetch, ["a", "b"], interval=7)
        await run_for(poller, fake, 12 * 3600 - 60)  # until 23:59
        quota = client.quota
        # The first cycle at once, then 6 calls for 2 targets in 12 h: one cycle every 4 h.
        assert poller.interval is not None
        assert poller.interval >= 3 * 3600
    assert quota is not None
    assert reads == poller.polls <= 8
    assert quota.remaining_today is not None
    assert quota.remaining_today >= 2  # the reserve is left for the user
    assert not poller.errors


@pytest.mark.asyncio
async def test_a_spent_budget_waits_for_the_reset_without_touching_the_reserve(
    fake: Clock,
) -> None:
    sim = fleet(fake, plants=2, per_plant=2)
    targets = thermostats(sim)
    fake.at(23)  # an hour to the reset
    async with sim_client(sim, fake, per_day=20) as client:
        for plant, module in targets * 3:  # the user's own calls: 12 of 20, 8 left
            await client.smarther.get_status(plant, module)
        poller = client.poll_thermostats(targets, reserve=0.5)  # 10 kept: nothing to spend
        await run_for(poller, fake, 3600 - 1)
        assert poller.polls == 0
        quota = client.quota
        assert quota is not None
        assert quota.remaining_today == 8
        changes = await run_for(poller, fake, 60)  # past midnight: a new day, a new budget
    assert fake.sleeps[-1] == 1  # woke at midnight (after the test's own deadline)
    assert poller.polls == 4
    assert len(changes) == 4
    assert not poller.errors


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_errors_are_counted_and_the_other_targets_are_still_polled(
    fake: Clock, mock: respx.MockRouter
) -> None:
    good, bad, flaky = ids(0), ids(1), ids(2)
    mock.get(status_url(*good)).respond(json=status_body(*good))
    mock.get(status_url(*bad)).respond(500, json={"statusCode": 500, "message": "down"})
    reads = 0

    def sometimes(request: httpx.Request) -> httpx.Response:
        nonlocal reads
        reads += 1
        if reads % 3 == 0:
            raise httpx.ConnectError("reset", request=request)
        if reads % 3 == 1:
            return httpx.Response(200, content=b'{"chronothermostats": [')
        return httpx.Response(200, json=status_body(*flaky, temperature=f"{18 + reads / 10:.1f}"))

    mock.get(status_url(*flaky)).mock(side_effect=sometimes)
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats([good, bad, flaky], interval=10)
        changes = await run_for(poller, fake, 60)
    assert poller.cycles == 6
    assert poller.polls == 18
    assert poller.errors == Counter(
        {"ServerError": 6, "ResponseValidationError": 2, "TransportError": 2}
    )
    assert isinstance(poller.last_error, ServerError | TransportError)
    targets = [c.target for c in changes]
    assert targets.count(good) == 1
    assert bad not in targets
    assert targets.count(flaky) == 2  # read successfully on cycles 2 and 5, and it changed
    assert poller.value(bad) is None


@pytest.mark.asyncio
async def test_seeded_faults_are_outlived_and_every_thermostat_is_read(fake: Clock) -> None:
    sim = fleet(fake, plants=10, per_plant=2)
    sim.faults.per_route["get_status"] = 0.6
    sim.faults.kinds = ("408", "5xx", "drop", "malformed")
    async with sim_client(sim, fake, per_day=None, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        changes = await run_for(poller, fake, 600)
    assert {c.target for c in changes} == set(thermostats(sim))
    assert sum(poller.errors.values()) > 20
    assert set(poller.errors) <= {
        "RequestTimeout",
        "ServerError",
        "TransportError",
        "ResponseValidationError",
    }
    assert poller.polls == 200  # 20 thermostats, 10 cycles


@pytest.mark.asyncio
async def test_a_failed_discovery_is_tried_again_with_backoff(
    fake: Clock, mock: respx.MockRouter
) -> None:
    plant, module = ids(0)
    answers = iter(
        [
            httpx.Response(503, json={"statusCode": 503, "message": "down"}),
            httpx.Response(503, json={"statusCode": 503, "message": "down"}),
            httpx.Response(200, json={"plants": [{"id": plant, "name": "Casa"}]}),
        ]
    )
    mock.get("/smarther/v2.0/plants").mock(side_effect=lambda _: next(answers))
    mock.get(f"/smarther/v2.0/plants/{plant}/topology").respond(
        json={
            "plant": {
                "id": plant,
                "name": "Casa",
                "modules": [{"device": "chronothermostat", "id": module, "name": "x"}],
            }
        }
    )
    mock.get(status_url(plant, module)).respond(json=status_body(plant, module))
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=600)
        start = fake.monotonic()
        (change,) = await take(poller, 1)
    assert change.target == (plant, module)
    assert poller.errors == Counter({"ServerError": 2})
    assert fake.monotonic() - start == RETRY_FIRST + 2 * RETRY_FIRST == 10 + 20


@pytest.mark.asyncio
async def test_quota_exhausted_waits_for_the_reset_then_goes_on(fake: Clock) -> None:
    # The gateway counts 6 calls a day (another app spent the rest): the local limiter thinks
    # there are 8 to spend, so the second cycle (in the evening, paced to keep the reserve)
    # meets the gateway's 403 on its third read.
    sim = fleet(fake, plants=2, per_plant=2, per_day=6)
    targets = thermostats(sim)
    reads: list[datetime] = []
    async with sim_client(sim, fake, per_day=10) as client:

        async def fetch(target: tuple[str, str]) -> ChronothermostatStatus:
            reads.append(fake.now())
            return await client.smarther.get_status(*target)

        poller = client.poll(fetch, targets, interval=60, key=thermostat_state)
        await run_for(poller, fake, 13 * 3600)  # 12:00 to 01:00
    assert poller.errors == Counter({"ServerQuotaExhausted": 1})  # the gateway's 403
    assert isinstance(poller.last_error, QuotaExhausted)
    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    refused = reads[6]
    assert refused < midnight
    assert (midnight - refused).total_seconds() in fake.sleeps  # slept to the reset
    # At midnight the two thermostats left out were read first, then the new day's pace.
    assert reads[7:] == [midnight, midnight]
    assert poller.polls == 6 + 2
    assert poller.cycles == 2
    assert sim.calls_today == 2


@pytest.mark.asyncio
async def test_the_gateways_quota_answer_is_waited_out_too(fake: Clock) -> None:
    sim = fleet(fake, plants=1, per_plant=3, per_day=5)  # the simulated gateway's quota
    targets = thermostats(sim)
    async with sim_client(sim, fake, per_day=None) as client:  # no local daily count
        poller = client.poll_thermostats(targets, interval=60)
        changes = await run_for(poller, fake, 13 * 3600)
    assert poller.errors["ServerQuotaExhausted"] >= 1  # the gateway's 403 (a QuotaExhausted)
    assert {c.target for c in changes} == set(targets)
    assert poller.polls == 10  # 5 before midnight, 5 after
    assert sim.calls_today == 5


@pytest.mark.asyncio
async def test_errors_that_need_the_user_are_raised(fake: Clock) -> None:
    sim = fleet(fake, plants=1, per_plant=1)
    async with sim.client(clock=fake, access_token="not-a-token", retry=NO_WAIT) as client:
        poller = client.poll_thermostats(thermostats(sim), interval=60)
        with pytest.raises(Unauthorized):
            await take(poller, 1)
        with pytest.raises(Unauthorized):  # discovery too
            await take(client.poll_thermostats(), 1)


@pytest.mark.asyncio
async def test_a_bug_in_fetch_is_raised_not_counted(fake: Clock) -> None:
    async def fetch(target: int) -> int:
        if target == 2:
            raise ZeroDivisionError
        return target

    async with respx_client(fake) as client:
        poller = client.poll(fetch, range(4), interval=60)
        with pytest.raises(ZeroDivisionError):
            await take(poller, 4)
        assert not poller.errors


# --------------------------------------------------------------------------------------------
# Fairness
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_every_target_is_read_as_often_as_the_others(fake: Clock) -> None:
    reads: Counter[int] = Counter()

    async def fetch(target: int) -> int:
        reads[target] += 1
        return reads[target]

    async with respx_client(fake) as client:
        poller = client.poll(fetch, range(10), interval=100, concurrency=3)
        for seconds in (37, 150, 205, 999):
            await run_for(poller, fake, seconds)
            assert max(reads.values()) - min(reads.values()) <= 1, reads
    assert sum(reads.values()) == poller.polls


@pytest.mark.asyncio
async def test_after_a_quota_pause_the_round_goes_on_where_it_stopped(fake: Clock) -> None:
    reads: Counter[int] = Counter()
    calls = 0

    async def fetch(target: int) -> int:
        nonlocal calls
        calls += 1
        if calls % 7 == 0:
            raise QuotaExhausted("spent", resets_at=fake.now() + timedelta(minutes=5))
        reads[target] += 1
        return reads[target]

    async with respx_client(fake) as client:
        poller = client.poll(fetch, range(10), interval=60, concurrency=4)
        for _ in range(6):
            await run_for(poller, fake, 333)
            assert max(reads.values()) - min(reads.values()) <= 1, reads
    assert poller.errors["QuotaExhausted"] == calls // 7


# --------------------------------------------------------------------------------------------
# Cancellation: nothing left behind
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_breaking_out_of_async_for_leaves_no_task(fake: Clock) -> None:
    sim = fleet(fake, plants=4, per_plant=2)
    before = task_count()
    async with sim_client(sim, fake) as client:
        async for change in client.poll_thermostats(concurrency=4):
            assert change.previous is None
            break
        assert task_count() == before


@pytest.mark.asyncio
async def test_leaving_async_with_closes_the_poller(fake: Clock) -> None:
    sim = fleet(fake, plants=2, per_plant=2)
    before = task_count()
    async with sim_client(sim, fake) as client:
        async with client.poll_thermostats() as poller:
            await take(poller, 1)
        assert task_count() == before
        with pytest.raises(StopAsyncIteration):
            await poller.__anext__()
        assert [c async for c in poller] == []


@pytest.mark.asyncio
async def test_cancelling_the_consumer_mid_batch_leaves_no_task_and_loses_no_target(
    fake: Clock,
) -> None:
    release = anyio.Event()
    all_started = anyio.Event()
    started = 0
    reads: Counter[int] = Counter()

    async def fetch(target: int) -> int:
        nonlocal started
        started += 1
        if started == 4:
            all_started.set()
        if target >= 2:
            await release.wait()
        reads[target] += 1
        return target

    before = task_count()
    async with respx_client(fake) as client:
        poller = client.poll(fetch, range(4), interval=60, concurrency=4)
        got: list[Change[int, int]] = []

        async def consume() -> None:
            async for change in poller:
                got.append(change)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await all_started.wait()
            assert task_count() == before + 1 + 2  # the consumer and the reads still waiting
            tg.cancel_scope.cancel()
        assert task_count() == before
        assert got == []  # cancelled before the batch ended
        # Targets 0 and 1 were read and kept; 2 and 3 are read first on the next call.
        assert poller.value(0) == 0
        assert poller.value(2) is None
        release.set()
        changes = await take(poller, 4)
        assert sorted(c.target for c in changes) == [0, 1, 2, 3]
        assert reads == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    assert task_count() == before


@pytest.mark.asyncio
async def test_a_cancelled_anext_then_going_on(fake: Clock) -> None:
    gate = anyio.Event()
    waiting = anyio.Event()

    async def fetch(target: str) -> str:
        waiting.set()
        await gate.wait()
        return target

    async with respx_client(fake) as client:
        poller = client.poll(fetch, ["a", "b"], interval=60)
        with anyio.CancelScope() as scope:  # as a timeout around one __anext__ would

            async def cancel() -> None:
                await waiting.wait()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel)
                await poller.__anext__()
        assert scope.cancelled_caught
        gate.set()
        assert sorted(c.target for c in await take(poller, 2)) == ["a", "b"]


@pytest.mark.asyncio
async def test_one_consumer_at_a_time(fake: Clock) -> None:
    gate = anyio.Event()

    async def fetch(target: str) -> str:
        await gate.wait()
        return target

    async with (
        respx_client(fake) as client,
        client.poll(fetch, ["a"], interval=60) as poller,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(poller.__anext__)
        await anyio.lowlevel.checkpoint()
        with pytest.raises(RuntimeError, match="already"):
            await poller.__anext__()
        gate.set()


def test_the_poller_runs_under_trio() -> None:
    async def main() -> list[Change[int, int]]:
        clock = Clock()
        reads: Counter[int] = Counter()

        async def fetch(target: int) -> int:
            await anyio.lowlevel.checkpoint()
            reads[target] += 1
            return reads[target] // 2

        async with (
            make_client(clock) as client,
            client.poll(fetch, range(5), interval=10, concurrency=2) as poller,
        ):
            return await run_for(poller, clock, 45)

    changes = anyio.run(main, backend="trio")
    assert len(changes) == 5 + 5 + 5  # the first reads, then on the 2nd and 4th reads


# --------------------------------------------------------------------------------------------
# The generic poll: Home + Control, Multisocket
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_polling_home_control_plant_statuses(fake: Clock) -> None:
    sim = fleet(fake, plants=2, per_plant=0)
    plants = [p.hc_id for p in sim.plants]
    async with (
        sim_client(sim, fake, per_day=None) as client,
        sim_client(sim, fake, per_day=None) as other,
    ):
        poller = client.poll(client.home_control.get_plant_status, plants, interval=30)
        assert isinstance(poller, Poller)
        first = await take(poller, 2)
        assert sorted(c.target for c in first) == sorted(plants)
        assert all(c.previous is None for c in first)
        assert await run_for(poller, fake, 100) == []
        topology = await other.home_control.get_topology(plants[1])
        plug = next(m for a in topology.ambients for m in a.modules if m.kind.value == "plug")
        await other.home_control.set_module_status(plants[1], plug.kind, plug.id, True)
        (change,) = await run_for(poller, fake, 31)
    assert change.target == plants[1]
    before = {m.module_id: m for m in change.previous or []}
    after = {m.module_id: m for m in change.current}
    assert before[plug.id].is_on is False
    assert after[plug.id].is_on is True


@pytest.mark.asyncio
async def test_polling_multisocket_plugs_with_a_key(fake: Clock) -> None:
    sim = fleet(fake, plants=2, per_plant=0)
    targets = [(p.id, "type", "multisocket") for p in sim.plants]
    async with (
        sim_client(sim, fake, per_day=None) as client,
        sim_client(sim, fake, per_day=None) as other,
    ):
        poller = client.poll(
            lambda t: client.multisocket.get_plugs(*t),
            targets,
            interval=30,
            key=lambda plugs: [p.status for p in plugs],
        )
        first = await take(poller, 2)
        assert [c.current[0].status for c in first] == [[True, False, True]] * 2
        await other.multisocket.set_plugs(sim.plants[0].id, "type", "multisocket", False)
        (change,) = await run_for(poller, fake, 61)
    assert change.target == targets[0]
    assert change.previous is not None
    assert change.previous[0].status == [True, False, True]
    assert change.current[0].status == [False, False, False]


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"interval": 0}, ValueError),
        ({"interval": -1.0}, ValueError),
        ({"interval": math.inf}, ValueError),
        ({"reserve": 1.0}, ValueError),
        ({"reserve": -0.1}, ValueError),
        ({"concurrency": 0}, ValueError),
        ({"concurrency": True}, ValueError),
        ({"targets": []}, ValueError),
        ({"discovery_interval": 0}, ValueError),
    ],
)
@pytest.mark.asyncio
async def test_bad_arguments_are_refused(
    fake: Clock, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with respx_client(fake) as client:
        with pytest.raises(error):
            client.poll_thermostats(**kwargs)


@pytest.mark.asyncio
async def test_the_concurrency_follows_the_limiter(fake: Clock) -> None:
    async def fetch(target: int) -> int:
        return target

    async with respx_client(fake, rate_limit=None) as client:
        assert client.poll(fetch, [1]).concurrency == 8
        assert client.poll(fetch, [1], concurrency=20).concurrency == 20
    async with respx_client(fake, rate_limit=RateLimit(max_concurrency=3)) as client:
        assert client.poll(fetch, [1]).concurrency == 3
    async with respx_client(fake, rate_limit=RateLimit(per_second=5)) as client:
        assert client.poll(fetch, [1], concurrency=20).concurrency == 5
    async with respx_client(fake, rate_limit=RateLimit(per_second=0.5)) as client:
        assert client.poll(fetch, [1]).concurrency == 1


@pytest.mark.asyncio
async def test_duplicate_targets_are_polled_once(fake: Clock) -> None:
    reads: Counter[str] = Counter()

    async def fetch(target: str) -> str:
        reads[target] += 1
        return target

    async with respx_client(fake) as client:
        poller = client.poll(fetch, ["a", "b", "a"], interval=10)
        await run_for(poller, fake, 25)
    assert poller.targets == ("a", "b")
    assert reads == Counter({"a": 3, "b": 3})
    assert "ThermostatPoller" not in repr(poller)
    assert "targets=2" in repr(poller)
