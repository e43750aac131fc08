"""``client.watch_thermostats``: push first, polls as the safety net, one stream of changes.

Everything runs against the simulator in process on a StepClock: the simulator's deliveries,
the receiver (called as an ASGI app through httpx), the watch's loop and the test all sleep on
fake time, which moves only when every task waits. Nothing here sleeps for real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from legrand_async import RateLimit, ServerQuotaExhausted, StatusChange
from legrand_async._watch import GRACE, check_interval, max_silence
from legrand_async._watch._ledger import Ledger
from legrand_async.simulator import Simulator
from legrand_async.testing import StepClock, signed_in_client
from legrand_async.webhooks import WebhookReceiver

from .test_webhook_deliveries import DELETED

SECRET = "watch-secret-0123456789"
URL = f"https://receiver.test/hooks/{SECRET}"
START = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)


class Rig:
    """A simulated fleet, its receiver and a client, all on one StepClock."""

    def __init__(
        self,
        plants: int = 2,
        per_plant: int = 2,
        per_day: int | None = 500,
        transport: Any = None,
        limiter: bool = True,
    ) -> None:
        self.clock = StepClock(START)
        self.receiver = WebhookReceiver(SECRET, clock=self.clock)
        self.sim = Simulator.fleet(
            plants=plants, thermostats_per_plant=per_plant, seed=0, clock=self.clock,
            per_day=per_day, webhook_transport=httpx.ASGITransport(app=self.receiver),
        )  # fmt: skip
        extra: dict[str, Any] = {"transport": transport(self.sim)} if transport else {}
        limit = RateLimit(per_day=per_day, clock=self.clock) if limiter else None
        self.client = signed_in_client(self.sim, rate_limit=limit, **extra)
        self.got: list[tuple[datetime, StatusChange]] = []

    def device(self, plant: int, module: int) -> Any:
        p = self.sim.plants[plant]
        return self.sim.device(p.id, p.module_ids[module])

    def target(self, plant: int, module: int) -> tuple[str, str]:
        p = self.sim.plants[plant]
        return (p.id, p.module_ids[module])

    def of(self, plant: int, module: int) -> list[StatusChange]:
        return [c for _, c in self.got if c.target == self.target(plant, module)]

    async def wait(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    async def known(self, plants: int = 2) -> None:
        """After the start, push gives every thermostat of the first ``plants`` a known state."""
        await self.wait(60)
        for i in range(plants):
            for j in range(len(self.sim.plants[i].module_ids)):
                self.device(i, j).set(setpoint=20.0 + j)
                await self.wait(1)
        await self.wait(60)

    @asynccontextmanager
    async def watching(self, **kwargs: Any) -> AsyncIterator[Any]:
        """The watch running, its changes collected in ``got``."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.clock.run)
            async with (
                self.sim.running(),
                self.client,
                self.client.watch_thermostats(self.receiver, URL, **kwargs) as watch,
            ):

                async def consume() -> None:
                    async for change in watch:
                        self.got.append((self.clock.now(), change))

                group.start_soon(consume)
                yield watch
            group.cancel_scope.cancel()


def subscribed(sim: Simulator, plant: int) -> list[str]:
    return list(sim.plants[plant].state.subscriptions.values())


# ------------------------------------------------------------------------------ the contract


@pytest.mark.asyncio
async def test_every_plant_is_subscribed_and_a_change_at_the_device_arrives_by_push() -> None:
    rig = Rig()
    rig.sim.pushes.latency = 2.0
    async with rig.watching() as watch:
        await rig.wait(60)
        assert all(subscribed(rig.sim, i) == [URL] for i in range(2))
        spent = rig.sim.calls_today
        assert spent == 1 + 2 + 2 * 2  # plants, topologies, list + subscribe for each
        changed_at = rig.clock.now()
        rig.device(1, 0).set(setpoint=23.5)
        await rig.wait(10)
        (change,) = rig.of(1, 0)
        assert change.source == "push"
        assert (change.current.setpoint, change.previous) == (23.5, None)
        assert rig.got[-1][0] - changed_at == timedelta(seconds=2)
        assert rig.sim.calls_today == spent  # push costs no call
        assert watch.push_events == 1
        assert watch.polls == 0
        assert all(h.healthy and h.subscription_id for h in watch.health.values())
        assert watch.calls_left == 500 - 100 - spent
    assert subscribed(rig.sim, 0) == [URL]  # left in place on exit


@pytest.mark.asyncio
async def test_subscriptions_are_removed_on_exit_when_asked() -> None:
    rig = Rig()
    async with rig.watching(remove_subscriptions=True):
        await rig.wait(60)
        assert subscribed(rig.sim, 0) == [URL]
    assert subscribed(rig.sim, 0) == subscribed(rig.sim, 1) == []


@pytest.mark.asyncio
async def test_the_same_state_seen_by_push_then_poll_is_yielded_once() -> None:
    rig = Rig(per_day=None)
    async with rig.watching(max_silence=60) as watch:
        await rig.wait(30)
        rig.device(0, 0).set(setpoint=22.0, temperature=20.0)  # pinned: no drift
        await rig.wait(600)  # the thermostat is polled again meanwhile
        pushed, polled = watch.polls, rig.of(0, 0)
        assert pushed > 4
        assert [c.source for c in polled] == ["push"]
        assert watch.dropped[1] >= 1


@pytest.mark.asyncio
async def test_an_event_older_than_what_was_yielded_is_dropped() -> None:
    rig = Rig(per_day=None)
    rig.sim.pushes.latency = 900.0  # the polls see both changes before push delivers them
    async with rig.watching(max_silence=60) as watch:
        await rig.wait(30)
        rig.device(0, 0).set(setpoint=21.0, temperature=20.0)
        await rig.wait(10)
        rig.device(0, 0).set(setpoint=24.0)
        await rig.wait(3600)
        setpoints = [c.current.setpoint for c in rig.of(0, 0)]
        assert setpoints[-1] == 24.0
        assert 21.0 not in setpoints[setpoints.index(24.0) :]
        assert rig.of(0, 0)[setpoints.index(24.0)].source == "poll"
        assert watch.dropped[0] >= 1  # the push of 21.0, older than the poll of 24.0


def test_the_ledger_orders_each_thermostat_on_its_own() -> None:
    sim = Simulator.fleet(plants=1, thermostats_per_plant=1, seed=0)
    plant = sim.plants[0]
    status_a = _status(sim, 21.0)
    status_b = _status(sim, 24.0)
    ledger = Ledger()
    t, other = (plant.id, plant.module_ids[0]), (plant.id, "other")
    first = ledger.offer(t, status_a, START, "push")
    assert first is not None
    assert first.source == "push"
    assert ledger.offer(t, status_b, START + timedelta(seconds=5), "poll") is not None
    assert ledger.offer(t, status_a, START + timedelta(seconds=2), "push") is None  # older
    assert ledger.offer(t, status_b, START + timedelta(seconds=9), "push") is None  # the same
    assert ledger.offer(other, status_a, START, "poll") is not None  # its own stream
    # a push stamped to the second is not older than a poll sent within that second
    assert ledger.offer(t, status_a, START + timedelta(seconds=9.5), "poll") is not None
    assert ledger.offer(t, status_b, START + timedelta(seconds=9), "push") is not None
    assert (ledger.stale, ledger.repeats) == (1, 1)


def _status(sim: Simulator, setpoint: float) -> Any:
    from legrand_async._converters import structure
    from legrand_async.models.smarther import ChronothermostatStatus

    plant = sim.plants[0]
    t = plant.thermostats[0]
    t.command(t.function, "MANUAL", setpoint, t.program, None)
    body = sim.app.smarther.status_payload(t)
    return structure(json.loads(json.dumps(body)), ChronothermostatStatus)


# --------------------------------------------------------------------- broken push, recovery


@pytest.mark.asyncio
async def test_a_lost_subscription_is_detected_resubscribed_polled_and_recovered() -> None:
    rig = Rig(per_day=None)
    async with rig.watching() as watch:
        await rig.known()
        rig.sim.plants[0].state.subscriptions.clear()  # push for plant 0 is gone
        rig.device(0, 0).set(setpoint=25.0)
        rig.device(0, 1).set(setpoint=26.0)
        plant0 = rig.target(0, 0)[0]
        for _ in range(8):  # the hourly checks find what push never said
            await rig.wait(1800)
            if not watch.health[plant0].healthy:
                break
        health = watch.health[plant0]
        assert not health.healthy
        assert health.breaks == 1
        assert health.broken_since is not None
        await rig.wait(GRACE + 600)
        assert subscribed(rig.sim, 0) == [URL]  # subscribed again
        assert {c.current.setpoint for c in rig.of(0, 0) + rig.of(0, 1)} >= {25.0, 26.0}
        assert watch.health[rig.target(1, 0)[0]].healthy  # the other plant is unaffected
        polls = watch.polls
        await rig.wait(3600)
        assert watch.polls > polls  # budget-paced polling while push is broken
        rig.device(0, 1).set(setpoint=19.0)  # pushed again: healthy
        await rig.wait(5)
        assert rig.of(0, 1)[-1].source == "push"
        assert watch.health[plant0].healthy
        assert watch.health[plant0].broken_since is None
        polls = watch.polls
        await rig.wait(1800)
        assert watch.polls - polls <= 1  # back to checks only


@pytest.mark.asyncio
async def test_an_outage_is_detected_and_push_recovers_when_it_ends() -> None:
    rig = Rig(per_day=None)
    async with rig.watching() as watch:
        await rig.known()
        rig.sim.pushes.outage(rig.clock.now(), timedelta(hours=6))
        for i in range(2):
            rig.device(i, 0).set(setpoint=24.5)
        await rig.wait(5 * 3600)
        assert not any(h.healthy for h in watch.health.values())
        assert all(c.source == "poll" for c in rig.of(0, 0)[1:])
        await rig.wait(3600 + 60)  # the outage is over
        rig.device(1, 1).set(setpoint=18.0)
        await rig.wait(5)
        assert watch.health[rig.target(1, 1)[0]].healthy
        assert not watch.health[rig.target(0, 0)[0]].healthy  # until its own push arrives


@pytest.mark.asyncio
async def test_dropped_pushes_are_caught_by_the_checks() -> None:
    rig = Rig(per_day=None)
    async with rig.watching() as watch:
        await rig.known(plants=1)
        rig.sim.pushes.drop_rate = 1.0
        rig.device(0, 0).set(setpoint=27.0)
        rig.sim.pushes.drop_rate = 0.0
        await rig.wait(6 * 3600)
        assert 27.0 in [c.current.setpoint for c in rig.of(0, 0) if c.source == "poll"]
        assert watch.health[rig.target(0, 0)[0]].breaks >= 1


@pytest.mark.asyncio
@pytest.mark.parametrize("told", [False, True], ids=["on schedule", "told by Event Grid"])
async def test_a_subscription_gone_is_made_again(told: bool) -> None:
    rig = Rig()
    async with rig.watching():
        await rig.wait(60)
        rig.sim.plants[1].state.subscriptions.clear()
        if told:  # a SubscriptionDeletedEvent has the subscriptions checked at once
            await rig.sim.push(rig.sim.plants[0].id, [DELETED])
            await rig.wait(5)
        else:
            await rig.wait(6 * 3600 + 60)
        assert subscribed(rig.sim, 1) == [URL]


# ---------------------------------------------------------------------------- the budget


@pytest.mark.asyncio
async def test_the_reserve_is_never_spent() -> None:
    rig = Rig(per_day=60)
    async with rig.watching(max_silence=1, reserve=0.5) as watch:
        await rig.wait(86400 - 120)  # the day, polling all it may
        assert 0 <= watch.calls_left < 10
        assert rig.sim.calls_today <= 30
        assert watch.polls > 10
        assert not watch.errors


def test_the_defaults_derived_from_the_budget() -> None:
    assert max_silence(100, 500) == 100 * 86400 / 50
    assert max_silence(1, 500) == 3600.0
    assert max_silence(100, None) == 86400.0
    assert check_interval(5, 500) == 5 * 86400 / 25
    assert check_interval(1, 10_000) == 600.0


# ------------------------------------------------------------------------- leaving cleanly


@pytest.mark.asyncio
@pytest.mark.parametrize("after", [0.0, 0.5, 30.0, 61.0, 3600.0])
async def test_cancelling_the_consumer_anywhere_leaves_no_task(after: float) -> None:
    rig = Rig(per_day=None)
    before = asyncio.all_tasks()
    async with anyio.create_task_group() as group:
        group.start_soon(rig.clock.run)
        with anyio.CancelScope() as scope:

            async def cancel() -> None:
                await rig.clock.sleep(after)
                scope.cancel()

            group.start_soon(cancel)
            async with (
                rig.sim.running(),
                rig.client,
                rig.client.watch_thermostats(rig.receiver, URL) as watch,
            ):
                rig.device(0, 0).set(setpoint=22.0)
                async for _ in watch:
                    rig.device(0, 1).set(setpoint=22.5)
        assert scope.cancelled_caught
        group.cancel_scope.cancel()
    assert asyncio.all_tasks() == before


@pytest.mark.asyncio
async def test_breaking_out_of_the_loop_ends_the_watch() -> None:
    rig = Rig()
    before = asyncio.all_tasks()
    async with rig.watching() as watch:
        await rig.wait(60)
        rig.device(0, 0).set(setpoint=23.0)
        await rig.wait(1)
    with pytest.raises(StopAsyncIteration):
        await watch.__anext__()
    assert asyncio.all_tasks() == before


@pytest.mark.asyncio
async def test_the_arguments_are_checked_before_any_call() -> None:
    rig = Rig()
    with pytest.raises(TypeError):
        rig.client.watch_thermostats(object(), URL)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="https"):
        rig.client.watch_thermostats(rig.receiver, "http://receiver.test/hooks/x")
    with pytest.raises(ValueError, match="max_silence"):
        rig.client.watch_thermostats(rig.receiver, URL, max_silence=0)
    with pytest.raises(RuntimeError):
        await rig.client.watch_thermostats(rig.receiver, URL).__anext__()
    assert rig.sim.calls_today == 0


# ----------------------------------------------------------------------- ids from the server

BAD_PLANTS = ["../../etc", "not a uuid", 5, None]
BAD_MODULE = {"id": "bad/module", "device": "chronothermostat", "name": "Nope"}


class Tampered(httpx.AsyncBaseTransport):
    """The simulator's answers with ids no path can carry added to the listings."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = sim.transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        if request.method != "GET" or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        if path.endswith("/plants"):
            body["plants"] += [{"id": bad, "name": "x"} for bad in BAD_PLANTS]
        elif path.endswith("/topology"):
            body["plant"]["modules"].append(BAD_MODULE)
        else:
            return httpx.Response(200, json=body, headers=response.headers)
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        return httpx.Response(200, json=body, headers=headers)


@pytest.mark.asyncio
async def test_ids_from_the_server_that_no_path_can_carry_never_raise() -> None:
    rig = Rig(transport=Tampered)
    async with rig.watching() as watch:
        await rig.wait(60)
        assert len(watch.targets) == 4
        assert "bad/module" in watch.discovery.skipped
        plant = rig.sim.plants[0].id
        bad_event = [
            {
                "id": "e-1",
                "eventType": "DeviceToCloud",
                "subject": "///bs_cloud_not-a-plant//",
                "eventTime": "2026-01-12T00:01:00Z",
                "data": {"chronothermostats": [{**_wire(rig), "sender": {"plant": {
                    "id": "bs_cloud_../x", "module": {"id": "no/module"}}}}]},
            }
        ]  # fmt: skip
        await rig.sim.push(plant, bad_event)
        rig.device(0, 0).set(setpoint=22.0)
        await rig.wait(3600)
        assert watch.skipped_events == 1
        assert rig.of(0, 0)[0].source == "push"
        assert not watch.errors


def _wire(rig: Rig) -> dict[str, Any]:
    t = rig.sim.plants[0].thermostats[0]
    payload: dict[str, Any] = rig.sim.app.smarther.status_payload(t, notification=True)
    return payload


# ------------------------------------------------------------------------ over real sockets


@pytest.mark.asyncio
async def test_end_to_end_over_loopback_with_a_real_uvicorn_receiver() -> None:
    """The simulator served by uvicorn, the receiver served by uvicorn, the real clock: a change
    at the device reaches the consumer by push (waiting on sockets only, never sleeping)."""
    from .webhook_helpers import serving

    receiver = WebhookReceiver(SECRET)
    sim = Simulator.fleet(plants=2, thermostats_per_plant=2, seed=0)
    async with serving(receiver) as port, sim.serve() as base_url:
        hook = f"https://127.0.0.1:{port}/hooks/{SECRET}"
        client = sim.client(base_url=base_url, transport=None, rate_limit=RateLimit(per_day=500))
        async with client, client.watch_thermostats(receiver, hook) as watch:
            with anyio.fail_after(10):
                while len(watch.health) < 2 or not all(
                    h.subscription_id for h in watch.health.values()
                ):
                    await anyio.lowlevel.checkpoint()
                    await asyncio.sleep(0)  # the loop's own turn, no time passes on purpose
                plant = sim.plants[1]
                sim.device(plant.id, plant.module_ids[1]).set(setpoint=23.0)
                change = await watch.__anext__()
        assert (change.source, change.target) == ("push", (plant.id, plant.module_ids[1]))
        assert change.current.setpoint == 23.0
        assert list(sim.plants[0].state.subscriptions.values()) == [hook]


@pytest.mark.asyncio
async def test_an_error_that_needs_the_user_is_raised_from_the_iteration() -> None:
    from legrand_async import Unauthorized

    rig = Rig()
    client = rig.sim.client(access_token="not-a-token", clock=rig.clock)
    async with anyio.create_task_group() as group:
        group.start_soon(rig.clock.run)
        async with client, client.watch_thermostats(rig.receiver, URL) as watch:
            with pytest.raises(Unauthorized):
                await watch.__anext__()
        group.cancel_scope.cancel()


@pytest.mark.asyncio
async def test_a_quota_the_server_says_is_spent_is_waited_out_not_raised() -> None:
    rig = Rig(per_day=12, limiter=False)  # no local limiter: the gateway's 403 comes
    async with rig.watching(max_silence=60) as watch:
        await rig.wait(3 * 3600)
        assert watch.errors["ServerQuotaExhausted"] >= 1
        assert isinstance(watch.last_error, ServerQuotaExhausted)
        calls = rig.sim.calls_today
        await rig.wait(3 * 3600)
        assert rig.sim.calls_today == calls  # waiting for the reset, not hammering
        assert rig.client.stats.statuses[403] <= 2


@pytest.mark.asyncio
async def test_a_step_clock_wakes_each_sleeper_at_its_own_time() -> None:
    clock = StepClock(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper, "late", 50.0)
        group.start_soon(sleeper, "early", 10.0)
        group.start_soon(sleeper, "same", 10.0)
        await clock.run(until=100.0)
    assert woke == [("early", 10.0), ("same", 10.0), ("late", 50.0)]
    assert clock.monotonic() == 100.0
