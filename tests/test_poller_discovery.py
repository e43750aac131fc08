"""Discovery plant by plant: it degrades, never stalls, and never dies on the server's ids.

A small cloud on respx answers the plant list, the topologies and the statuses, with failures
switched on and off per plant; the simulator drives the fault sweeps. Time is a FakeClock.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator

import anyio
import httpx
import pytest
import respx

from legrand_async import QuotaExhausted
from legrand_async._poller import RETRY_FIRST, RETRY_LONGEST

from .conftest import BASE
from .test_poller import (
    NO_WAIT,
    ONE_TRY,
    Clock,
    fleet,
    respx_client,
    run_for,
    sim_client,
    status_body,
    take,
    task_count,
    thermostats,
)

SM = "/smarther/v2.0"


def uid(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def down(status: int = 503) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": status, "message": "down"})


class Cloud:
    """Plants (as listed) and their module ids (as listed), answered on the wire.

    ``list_down`` / ``down`` (plant ids) make the plant list / a topology answer 503;
    ``calls`` records (monotonic time, what) for every request.
    """

    def __init__(self, router: respx.MockRouter, clock: Clock, plants: dict[str, list[str]]):
        self.plants = plants
        self.clock = clock
        self.list_down = False
        self.down: set[str] = set()
        self.queued: dict[str, list[httpx.Response]] = {}  # next topology answers, by plant
        self.gate: anyio.Event | None = None  # topologies wait for it when set
        self.started = anyio.Event()  # a topology was asked for
        self.calls: list[tuple[float, str]] = []
        router.get(f"{SM}/plants").mock(side_effect=self._list)
        router.get(url__regex=rf"{SM}/plants/(?P<plant>[^/]+)/topology$").mock(
            side_effect=self._topology
        )
        router.get(url__regex=r"/value/(?P<module>[^/]+)$").mock(side_effect=self._status)

    def _log(self, what: str) -> None:
        self.calls.append((self.clock.monotonic(), what))

    def _list(self, request: httpx.Request) -> httpx.Response:
        self._log("plants")
        if self.list_down:
            return down()
        return httpx.Response(200, json={"plants": [{"id": p, "name": "P"} for p in self.plants]})

    async def _topology(self, request: httpx.Request, plant: str) -> httpx.Response:
        self._log(f"topology {plant}")
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.queued.get(plant):
            return self.queued[plant].pop(0)
        if plant in self.down:
            return down()
        listed = next((p for p in self.plants if p.lower().endswith(plant.lower())), None)
        if listed is None:
            return down(404)
        modules = [
            {"device": "chronothermostat", "id": m, "name": "Room"} for m in self.plants[listed]
        ]
        return httpx.Response(200, json={"plant": {"id": plant, "name": "P", "modules": modules}})

    def _status(self, request: httpx.Request, module: str) -> httpx.Response:
        plant = request.url.path.split("/plants/")[1].split("/")[0]
        self._log(f"status {module}")
        return httpx.Response(200, json=status_body(plant, module))

    def when(self, what: str) -> list[float]:
        return [t for t, w in self.calls if w == what]


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def fake() -> Clock:
    return Clock()


# --------------------------------------------------------------------------------------------
# Plant by plant
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_failing_topology_is_retried_on_its_own_while_the_others_are_polled(
    fake: Clock, router: respx.MockRouter
) -> None:
    good, bad = uid(1), uid(2)
    cloud = Cloud(router, fake, {good: [uid(11), uid(12)], bad: [uid(21)]})
    cloud.down.add(bad)
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=600)
        first = await take(poller, 2)
        start = fake.monotonic()
        assert {c.module_id for c in first} == {uid(11), uid(12)}  # polled at once
        assert cloud.when(f"status {uid(11)}") == [start]
        found = poller.discovery
        assert found is not None
        assert found.retrying == (bad,)
        assert found.pending == (bad,)
        changes = await run_for(poller, fake, 5 * 60)  # it stays down
        assert changes == []
        # Its own backoff: 10 s, 20 s, 40 s, 80 s... while the good plant is polled on time.
        tries = cloud.when(f"topology {bad}")
        gaps = [round(b - a) for a, b in itertools.pairwise(tries)]
        assert gaps[:4] == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST, 8 * RETRY_FIRST]
        assert len(cloud.when("plants")) == 1  # the list is not read again for one plant
        cloud.down.clear()
        (change,) = await run_for(poller, fake, 600)
    # It came back: its thermostat was polled as soon as its topology was read.
    assert change.module_id == uid(21)
    back = cloud.when(f"topology {bad}")[-1]
    assert cloud.when(f"status {uid(21)}") == [back]
    assert poller.errors == Counter({"ServerError": len(cloud.when(f"topology {bad}")) - 1})
    found = poller.discovery
    assert found is not None
    assert found.pending == found.retrying == ()


@pytest.mark.asyncio
async def test_a_failed_plant_list_does_not_block_the_polls_of_known_thermostats(
    fake: Clock, router: respx.MockRouter
) -> None:
    plant = uid(1)
    cloud = Cloud(router, fake, {plant: [uid(11)]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60, discovery_interval=3600)
        await take(poller, 1)
        cloud.list_down = True
        await run_for(poller, fake, 3 * 3600)
        found = poller.discovery
    assert found is not None
    assert found.list_failed
    reads = cloud.when(f"status {uid(11)}")
    gaps = {round(b - a) for a, b in itertools.pairwise(reads)}
    assert gaps == {60}  # on time, every minute, all along
    lists = cloud.when("plants")
    assert lists[1] - lists[0] == 3600
    assert [round(b - a) for a, b in itertools.pairwise(lists[1:])][:3] == [10, 20, 40]
    assert poller.errors["ServerError"] == len(lists) - 1


@pytest.mark.asyncio
async def test_the_first_plant_list_failing_is_retried_soon(
    fake: Clock, router: respx.MockRouter
) -> None:
    cloud = Cloud(router, fake, {uid(1): [uid(11)]})
    cloud.list_down = True
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=600)
        await run_for(poller, fake, 29)
        cloud.list_down = False
        start = fake.monotonic()
        (change,) = await take(poller, 1)
    assert change.module_id == uid(11)
    assert fake.monotonic() - start <= 2 * 2 * RETRY_FIRST
    assert poller.errors == Counter({"ServerError": 2})  # at 0 and 10 s; then 30 s worked


@pytest.mark.asyncio
async def test_the_backoff_is_bounded(fake: Clock, router: respx.MockRouter) -> None:
    cloud = Cloud(router, fake, {uid(1): [uid(11)], uid(2): [uid(21)]})
    cloud.down.add(uid(2))
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=3600)
        await run_for(poller, fake, 20 * 3600)
    tries = cloud.when(f"topology {uid(2)}")
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert max(gaps) == RETRY_LONGEST
    assert gaps == sorted(gaps)
    assert len(tries) < 20 + 10  # about one an hour once the backoff is at its longest


@pytest.mark.asyncio
async def test_a_plant_gone_from_the_list_is_no_longer_polled(
    fake: Clock, router: respx.MockRouter
) -> None:
    cloud = Cloud(router, fake, {uid(1): [uid(11)], uid(2): [uid(21)]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60, discovery_interval=600)
        start = fake.monotonic()
        await take(poller, 2)
        del cloud.plants[uid(2)]
        await run_for(poller, fake, 700)
        assert poller.targets == ((uid(1), uid(11)),)
        assert poller.value((uid(2), uid(21))) is None
    assert cloud.when(f"status {uid(21)}")[-1] <= start + 600  # not after the new listing
    assert cloud.when(f"status {uid(11)}")[-1] >= start + 660


@pytest.mark.asyncio
async def test_quota_exhausted_during_discovery_is_waited_out(
    fake: Clock, router: respx.MockRouter
) -> None:
    cloud = Cloud(router, fake, {uid(1): [uid(11)], uid(2): [uid(21)]})
    quota = "Out of call volume quota. Quota will be replenished in 01:00:00."
    cloud.queued[uid(2)] = [httpx.Response(403, json={"statusCode": 403, "message": quota})]
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60, concurrency=1)
        changes = await run_for(poller, fake, 2 * 3600)
    assert {c.module_id for c in changes} == {uid(11), uid(21)}
    assert poller.errors == Counter({"ServerQuotaExhausted": 1})  # the gateway's 403
    assert isinstance(poller.last_error, QuotaExhausted)
    refused, read = cloud.when(f"topology {uid(2)}")
    assert read - refused == 3600  # waited for the reset, then the same plant first
    assert cloud.when(f"status {uid(21)}")[0] == read


# --------------------------------------------------------------------------------------------
# The server's ids
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-uuid",
        "",
        " ",
        "..",
        "../../plants",
        uid(5) + "/x",
        uid(5) + "\n",
        "\x00" + uid(5),
        uid(5) + "?a=1",
        "x" * 10_000,
        "bs_cloud_",
        "bs_cloud_not-a-uuid",
        "ü" * 36,
    ],
)
@pytest.mark.asyncio
async def test_a_plant_id_that_cannot_be_polled_is_skipped_and_counted(
    fake: Clock, router: respx.MockRouter, bad: str
) -> None:
    good = uid(1)
    cloud = Cloud(router, fake, {bad: [uid(51)], good: [uid(11)]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        changes = await run_for(poller, fake, 200)
        found = poller.discovery
    assert found is not None
    assert [c.module_id for c in changes] == [uid(11)]
    assert poller.targets == ((good, uid(11)),)
    assert list(found.skipped) == [bad]
    assert "plant id" in found.skipped[bad]
    assert found.plants == (good,)
    assert not poller.errors
    assert not [w for _, w in cloud.calls if w.startswith("topology") and good not in w]


@pytest.mark.parametrize("bad", ["1234", "", "../status", "a/b", uid(5) + " ", "\t", "%2e%2e"])
@pytest.mark.asyncio
async def test_a_module_id_that_cannot_be_polled_is_skipped_and_counted(
    fake: Clock, router: respx.MockRouter, bad: str
) -> None:
    plant = uid(1)
    Cloud(router, fake, {plant: [bad, uid(11)]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        changes = await run_for(poller, fake, 200)
        found = poller.discovery
    assert found is not None
    assert {c.target for c in changes} == {(plant, uid(11))}
    assert poller.targets == ((plant, uid(11)),)
    assert bad in found.skipped
    assert "module id" in found.skipped[bad]
    assert not poller.errors


@pytest.mark.parametrize("listed", ["bs_cloud_" + uid(1), "BS_CLOUD_" + uid(1).upper()])
@pytest.mark.asyncio
async def test_a_bs_cloud_plant_id_is_polled_without_the_prefix(
    fake: Clock, router: respx.MockRouter, listed: str
) -> None:
    cloud = Cloud(router, fake, {listed: [uid(11)]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        (change,) = await take(poller, 1)
        found = poller.discovery
    plant = listed[len("bs_cloud_") :]
    assert change.target == (plant, uid(11))
    assert found is not None
    assert not found.skipped
    assert cloud.when(f"topology {plant}")


@pytest.mark.asyncio
async def test_ids_of_the_wrong_json_type_are_skipped_not_the_whole_list(
    fake: Clock, router: respx.MockRouter
) -> None:
    plant = uid(1)
    cloud = Cloud(router, fake, {plant: [uid(11)]})
    router.get(f"{SM}/plants").respond(
        json={"plants": [{"id": None, "name": "x"}, {"id": plant, "name": "y"}]}
    )
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        (change,) = await run_for(poller, fake, 100)
        found = poller.discovery
    # One entry the model would refuse costs that entry, not the whole list.
    assert change.target == (plant, uid(11))
    assert found is not None
    assert list(found.skipped) == ["None"]
    assert "must be a str" in found.skipped["None"]
    assert not poller.errors
    assert cloud.when(f"status {uid(11)}")


def test_the_poller_accepts_the_same_ids_as_the_routes() -> None:
    from legrand_async._poller._discovery import module_id, plant_id

    assert plant_id(uid(3).upper()) == uid(3).upper()
    assert plant_id("bs_cloud_" + uid(3)) == uid(3)
    with pytest.raises(ValueError, match="UUID"):
        plant_id("bs_cloud_bs_cloud_" + uid(3))
    with pytest.raises(TypeError):
        module_id(None)


# --------------------------------------------------------------------------------------------
# Everything the simulator can inject, on every call discovery and polling make
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.asyncio
async def test_every_injected_fault_is_outlived_and_every_thermostat_found(
    fake: Clock, seed: int
) -> None:
    sim = fleet(fake, plants=6, per_plant=2)
    sim.faults.rate = 0.5
    sim.faults.rng.seed(seed)
    async with sim_client(sim, fake, per_day=None, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=120, concurrency=3)
        changes = await run_for(poller, fake, 1200)
    assert {c.target for c in changes} == set(thermostats(sim))
    assert sum(poller.errors.values()) > 10
    found = poller.discovery
    assert found is not None
    assert found.pending == ()
    assert set(poller.errors) <= {
        "RequestTimeout",
        "ServerError",
        "TransportError",
        "ResponseValidationError",
        "DeviceBusy",
    }


@pytest.mark.asyncio
async def test_discovery_never_spends_the_reserve(fake: Clock) -> None:
    sim = fleet(fake, plants=12, per_plant=1)
    fake.at(20)
    async with sim_client(sim, fake, per_day=10, retry=NO_WAIT) as client:
        poller = client.poll_thermostats(reserve=0.5)  # 5 calls to spend
        await run_for(poller, fake, 3 * 3600)
        quota = client.quota
        found = poller.discovery
    assert quota is not None
    assert quota.remaining_today == 5
    assert found is not None
    assert len(found.plants) == 12
    read = 12 - len(found.pending)
    assert 1 + read + poller.polls == 5  # the list, the plants read, their thermostats polled
    assert poller.polls == read  # every thermostat found was polled at once
    assert not poller.errors


@pytest.mark.asyncio
async def test_cancelling_during_discovery_leaves_no_task_and_loses_no_plant(
    fake: Clock, router: respx.MockRouter
) -> None:
    cloud = Cloud(router, fake, {uid(n): [uid(10 + n)] for n in range(1, 5)})
    cloud.gate = anyio.Event()
    before = task_count()
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60, concurrency=4)
        with anyio.CancelScope() as scope:

            async def cancel() -> None:
                await cloud.started.wait()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel)
                await poller.__anext__()
        assert task_count() == before
        found = poller.discovery
        assert found is not None
        assert len(found.pending) == 4  # every topology still to read
        cloud.gate.set()
        changes = await take(poller, 4)
    assert {c.plant_id for c in changes} == {uid(n) for n in range(1, 5)}
    assert task_count() == before


def test_discovery_runs_under_trio() -> None:
    async def main() -> tuple[set[tuple[str, str]], set[tuple[str, str]], int]:
        clock = Clock()
        sim = fleet(clock, plants=4, per_plant=2)
        sim.faults.rate = 0.3
        async with sim.client(clock=clock, retry=ONE_TRY) as client:
            poller = client.poll_thermostats(interval=60, concurrency=3)
            changes = await run_for(poller, clock, 900)
        return {c.target for c in changes}, set(thermostats(sim)), sum(poller.errors.values())

    seen, every, errors = anyio.run(main, backend="trio")
    assert seen == every
    assert errors > 0
