"""A fleet of workers on one shared quota, each polling part of the targets: with ``share=``
they spend together what one poller of every target would, spread over the day the same way.

The limiter here is one in-memory RateLimit shared by the workers' clients, which for the
budget is what workers on one Redis key see (tests/test_redis_processes.py shows that the
count itself is exact across processes). Time is trio's autojumping MockClock: a day in a
second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
import trio.testing

from legrand_async import RateLimit
from legrand_async._poller import pace
from legrand_async.simulator import Simulator
from legrand_async.testing import signed_in_client

from .test_poller import thermostats
from .test_poller_pacing import NOON, quota

START = datetime(2026, 11, 21, tzinfo=UTC)


class VirtualClock:
    """The library's clock on anyio's (virtual, under MockClock) time."""

    def monotonic(self) -> float:
        return anyio.current_time()

    def now(self) -> datetime:
        return START + timedelta(seconds=anyio.current_time())

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))


def test_a_share_stretches_the_interval() -> None:
    whole = pace(quota(500), NOON, targets=2, explicit=None, reserve=0.2)
    part = pace(quota(500), NOON, targets=2, explicit=None, reserve=0.2, share=0.25)
    assert whole.interval is not None
    assert part.interval == pytest.approx(4 * whole.interval)
    assert part.affordable == 100


async def _day(workers: int, share: float) -> tuple[int, int]:
    """(calls in the first six hours, calls in the day) of ``workers`` polling 8 thermostats."""
    clock = VirtualClock()
    sim = Simulator.fleet(plants=1, thermostats_per_plant=8, per_day=500, clock=clock)
    limit = RateLimit(per_day=500)
    async with signed_in_client(sim, rate_limit=limit) as client:
        plant = (await client.smarther.list_plants())[0]
        topology = await client.smarther.get_topology(plant.id)
    targets = [(plant.id, m.id) for m in topology.modules if m.device == "chronothermostat"]
    first = 0

    async def worker(number: int) -> None:
        async with (
            signed_in_client(sim, rate_limit=limit) as client,
            client.poll_thermostats(targets[number::workers], share=share) as poller,
        ):
            async for _ in poller:
                pass

    async def quarter() -> None:
        nonlocal first
        await anyio.sleep(6 * 3600 - anyio.current_time())
        first = sim.calls_today

    with anyio.move_on_after(86_400 - 60 - anyio.current_time()):
        async with anyio.create_task_group() as group:
            group.start_soon(quarter)
            for number in range(workers):
                group.start_soon(worker, number)
    return first, sim.calls_today


def day(workers: int, share: float) -> tuple[int, int]:
    clock = trio.testing.MockClock(autojump_threshold=0)
    result: tuple[int, int] = anyio.run(
        _day, workers, share, backend="trio", backend_options={"clock": clock}
    )
    return result


def test_four_workers_with_a_quarter_each_spend_what_one_poller_would() -> None:
    one_first, one_day = day(1, 1.0)
    fleet_first, fleet_day = day(4, 0.25)
    greedy_first, _ = day(4, 1.0)
    assert one_day <= 400  # the reserve holds either way
    assert fleet_day <= 400
    assert abs(fleet_day - one_day) <= 8
    assert abs(fleet_first - one_first) <= 8  # spread over the day as one poller spreads it
    assert greedy_first > 2 * one_first  # without shares the fleet spends the morning's budget


@pytest.mark.parametrize("share", [0, -0.5, 1.5, float("nan")])
def test_a_share_is_more_than_0_and_at_most_1(share: float) -> None:
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1)
    client = signed_in_client(sim)
    with pytest.raises(ValueError, match="share"):
        client.poll_thermostats(thermostats(sim), share=share)
