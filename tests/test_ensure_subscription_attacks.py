"""ensure_subscription attacked: listings full of garbage, many callers at once, leaders that
fail or are cancelled; every run ends with one live id and one subscription in the simulator."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

from legrand_async import LegrandClient
from legrand_async.errors import ResponseValidationError, ServerError, TransportError
from legrand_async.simulator import Simulator

from .conftest import PLANT

SM = "/smarther/v2.0"
URL = "https://example.org/hook/s3cret-0123456789abcdef"
CONFLICT = {"statusCode": 409, "message": "Subscription already exists"}


def sub(plant: Any = PLANT, sid: Any = "mine", url: Any = URL) -> dict[str, Any]:
    return {"plantId": plant, "subscriptionId": sid, "EndPointUrl": url}


#: Items of a listing that are no subscription ensure_subscription could return or remove.
GARBAGE: list[Any] = [
    None,
    "a string",
    42,
    [sub()],
    {},
    {"plantId": PLANT},
    {"subscriptionId": "no-url"},
    {"plantid": PLANT, "subscriptionid": "lower", "endpointurl": URL},
    sub(sid=None),
    sub(sid=""),
    sub(sid="   "),
    sub(sid=".."),
    sub(sid="ctrl\x00char"),
    sub(sid="x" * 300),
    sub(sid={"nested": 1}),
    sub(url=None),
    sub(url=["https://example.org"]),
    sub(plant={"id": PLANT}),
    sub(plant=["x"], sid="other-plant-shape"),
    sub(url="http://[::1", sid="bad-url"),
    sub(url="https://other.example/hook", sid="other-url"),
    sub(plant="not-a-uuid", sid="other-plant"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("garbage", GARBAGE, ids=[repr(g)[:40] for g in GARBAGE])
async def test_garbage_in_the_listing_never_raises_and_is_never_returned(
    client: LegrandClient, mock: respx.MockRouter, garbage: Any
) -> None:
    mock.get(f"{SM}/subscription").respond(json=[garbage])
    post = mock.post(f"{SM}/plants/{PLANT}/subscription").respond(
        201, json={"subscriptionId": "new"}
    )
    assert await client.smarther.ensure_subscription(PLANT, URL) == "new"
    assert post.call_count == 1


@pytest.mark.asyncio
async def test_ours_is_found_among_garbage(client: LegrandClient, mock: respx.MockRouter) -> None:
    listing = [*GARBAGE, sub(plant=f"BS_CLOUD_{PLANT.upper()}", sid="mine"), *GARBAGE]
    mock.get(f"{SM}/subscription").respond(json=listing)
    assert await client.smarther.ensure_subscription(PLANT, URL) == "mine"


@pytest.mark.asyncio
@pytest.mark.parametrize("plant", [None, "", "missing"])
async def test_a_stale_one_listed_without_a_plant_is_removed_whatever_the_garbage(
    client: LegrandClient, mock: respx.MockRouter, plant: Any
) -> None:
    stale = sub(plant=plant, sid="stale")
    if plant == "missing":
        del stale["plantId"]
    unaddressable = sub(plant=None, sid="..")  # no path can carry it: left alone
    listing = mock.get(f"{SM}/subscription").respond(json=[*GARBAGE, unaddressable, stale])
    post = mock.post(f"{SM}/plants/{PLANT}/subscription")
    post.side_effect = [
        httpx.Response(409, json=CONFLICT),
        httpx.Response(201, json={"subscriptionId": "fresh"}),
    ]
    delete = mock.delete(f"{SM}/plants/{PLANT}/subscription/stale").respond(200)
    assert await client.smarther.ensure_subscription(PLANT, URL) == "fresh"
    assert (listing.call_count, post.call_count, delete.call_count) == (2, 2, 1)


@pytest.mark.asyncio
async def test_a_stale_one_removed_meanwhile_by_another_client_is_no_error(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    """Two processes on the 409 path remove the same stale subscription: one gets 404."""
    mock.get(f"{SM}/subscription").respond(json=[sub(plant="", sid="stale")])
    post = mock.post(f"{SM}/plants/{PLANT}/subscription")
    post.side_effect = [
        httpx.Response(409, json=CONFLICT),
        httpx.Response(201, json={"subscriptionId": "fresh"}),
    ]
    gone = {"statusCode": 404, "message": "Subscription not found"}
    mock.delete(f"{SM}/plants/{PLANT}/subscription/stale").respond(404, json=gone)
    assert await client.smarther.ensure_subscription(PLANT, URL) == "fresh"


@pytest.mark.asyncio
async def test_a_listing_that_is_no_list_is_a_validation_error(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{SM}/subscription").respond(json=sub())
    with pytest.raises(ResponseValidationError, match="list"):
        await client.smarther.ensure_subscription(PLANT, URL)


# ------------------------------------------------------------------ against the simulator


class Hostile(httpx.AsyncBaseTransport):
    """The simulator's wire, with garbage added to every subscription listing and the other
    tasks run before and after each request (as a network would)."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = sim.transport()
        self.listings = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await anyio.lowlevel.checkpoint()
        response = await self.inner.handle_async_request(request)
        await anyio.lowlevel.checkpoint()
        if request.method == "GET" and request.url.path == f"{SM}/subscription":
            self.listings += 1
            await response.aread()
            listed = response.json() if response.status_code == 200 else []
            return httpx.Response(200, json=[*GARBAGE, *listed, *GARBAGE])
        return response


def subscriptions(sim: Simulator) -> list[tuple[str, str]]:
    return [(plant.id, url) for plant in sim.plants for url in plant.state.subscriptions.values()]


async def callers(clients: list[LegrandClient], plant: str, n: int) -> list[Any]:
    """``n`` callers at once, spread over ``clients``: each one's id or error."""
    results: list[Any] = [None] * n

    async def one(i: int) -> None:
        try:
            results[i] = await clients[i % len(clients)].smarther.ensure_subscription(plant, URL)
        except Exception as exc:  # the test looks at what each caller got
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return results


@pytest.mark.asyncio
@pytest.mark.parametrize(("n", "processes"), [(2, 1), (10, 1), (10, 3)])
async def test_callers_at_once_get_one_live_id_through_garbage(
    clock: Any, n: int, processes: int
) -> None:
    """One client: one flight. Several (as several processes would): the 409 path keeps the
    one made first. Either way one subscription is left."""
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    wire = Hostile(sim)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(sim.client(transport=wire, clock=clock))
            for _ in range(processes)
        ]
        ids = await callers(clients, plant, n)
    assert len(set(ids)) == 1
    assert subscriptions(sim) == [(plant, URL)]
    assert ids[0] in sim.plants[0].state.subscriptions
    if processes == 1:
        assert wire.listings == 1


@pytest.mark.asyncio
async def test_a_failing_leader_fails_its_followers_and_the_next_call_finds_what_it_made(
    clock: Any,
) -> None:
    """The subscription is made but its answer is lost (the connection drops): every caller
    gets the TransportError, not a second subscription; the next call finds the one made."""
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    sim.faults.per_route["subscribe"] = 1.0
    sim.faults.kinds = ("drop",)
    async with sim.client(transport=Hostile(sim), clock=clock) as client:
        results = await callers([client], plant, 10)
        assert all(isinstance(r, TransportError) for r in results)
        # One run: each caller raises its own copy of its error, chained to the one cause.
        assert len({id(r) for r in results}) == 10
        (leader,) = [r for r in results if all(o is r or o.__cause__ is r for o in results)]
        assert sum(r.__cause__ is leader for r in results) == 9
        assert all(str(r) == str(results[0]) for r in results)
        sim.faults.per_route.clear()
        sid = await client.smarther.ensure_subscription(plant, URL)
    assert list(sim.plants[0].state.subscriptions) == [sid]


@pytest.mark.asyncio
async def test_a_leader_failing_before_subscribing_leaves_nothing(clock: Any) -> None:
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    sim.faults.per_route["list_subscriptions"] = 1.0
    sim.faults.kinds = ("5xx",)
    async with sim.client(transport=sim.transport(), clock=clock) as client:
        results = await callers([client], plant, 10)
        assert all(isinstance(r, ServerError) for r in results)
        assert subscriptions(sim) == []
        sim.faults.per_route.clear()
        ids = await callers([client], plant, 10)
    assert len(set(ids)) == 1
    assert subscriptions(sim) == [(plant, URL)]


class Gated(Hostile):
    """Holds the first listing until the caller making it is cancelled."""

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.entered = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"{SM}/subscription" and not self.entered.is_set():
            self.entered.set()
            await anyio.sleep_forever()
        return await super().handle_async_request(request)


@pytest.mark.asyncio
async def test_a_cancelled_leader_hands_over_and_nine_followers_get_one_id(clock: Any) -> None:
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    gated = Gated(sim)
    async with sim.client(transport=gated, clock=clock) as client:
        leader = anyio.CancelScope()
        ids: list[str] = []

        async def lead() -> None:
            with leader:
                await client.smarther.ensure_subscription(plant, URL)

        async def follow() -> None:
            ids.append(await client.smarther.ensure_subscription(plant, URL))

        async with anyio.create_task_group() as tg:
            tg.start_soon(lead)
            await gated.entered.wait()
            for _ in range(9):
                tg.start_soon(follow)
            await anyio.lowlevel.checkpoint()
            leader.cancel()
    assert leader.cancelled_caught
    assert len(ids) == 9
    assert len(set(ids)) == 1
    assert list(sim.plants[0].state.subscriptions) == ids[:1]
    assert gated.listings == 1  # the one follower that took over listed once


@pytest.mark.asyncio
async def test_ids_the_simulator_hands_back_are_reused_as_listed(clock: Any) -> None:
    """A listing whose ids are not UUIDs and whose plant carries the prefix (as C2C does)."""
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    sim.plants[0].state.subscriptions["sub with spaces/and slash"] = URL

    class Prefixed(Hostile):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            if request.url.path != f"{SM}/subscription":
                return response
            items = json.loads(response.content)
            for item in items:
                if isinstance(item, dict) and item.get("plantId") == plant:
                    item["plantId"] = f"bs_cloud_{plant}"
            return httpx.Response(200, json=items)

    async with sim.client(transport=Prefixed(sim), clock=clock) as client:
        assert await client.smarther.ensure_subscription(plant, URL) == "sub with spaces/and slash"
    assert subscriptions(sim) == [(plant, URL)]
