"""ensure_subscription: reuse, 409 recovery, single flight, and ids the server sends."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

from legrand_async import LegrandClient
from legrand_async.errors import ServerError
from legrand_async.simulator import Simulator

from .conftest import PLANT, SUBSCRIPTION

SECRET = "s3cret-0123456789abcdef"
SM = "/smarther/v2.0"
URL = f"https://example.org/hook/{SECRET}"
CONFLICT = {"statusCode": 409, "message": "Subscription already exists"}


def _sub(url: str = URL, plant: str = PLANT, sid: str = SUBSCRIPTION) -> dict[str, str]:
    return {"plantId": plant, "subscriptionId": sid, "EndPointUrl": url}


@pytest.mark.asyncio
async def test_ensure_subscription_reuses(client: LegrandClient, mock: respx.MockRouter) -> None:
    mock.get(f"{SM}/subscription").respond(
        json=[_sub("https://other.example/x", sid="other"), _sub()]
    )
    assert await client.smarther.ensure_subscription(PLANT, URL) == SUBSCRIPTION
    assert len(mock.calls) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("listed_plant", "listed_url"),
    [
        (f"bs_cloud_{PLANT}", URL),
        (PLANT.upper(), URL),
        (PLANT, URL + "/"),
        (PLANT, URL.replace("https://example.org", "HTTPS://Example.ORG:443")),
    ],
)
async def test_ensure_subscription_reuses_what_the_list_spells_differently(
    client: LegrandClient, mock: respx.MockRouter, listed_plant: str, listed_url: str
) -> None:
    mock.get(f"{SM}/subscription").respond(json=[_sub(listed_url, listed_plant)])
    assert await client.smarther.ensure_subscription(PLANT, URL) == SUBSCRIPTION
    assert len(mock.calls) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("listed_plant", "listed_url"),
    [
        ("11111111-2222-3333-4444-555555555555", URL),  # another plant
        (PLANT, URL.replace(SECRET, "another-secret-0123456789")),  # another path
        (PLANT, URL.replace("example.org", "example.com")),  # another host
    ],
)
async def test_ensure_subscription_does_not_reuse_another_plant_or_url(
    client: LegrandClient, mock: respx.MockRouter, listed_plant: str, listed_url: str
) -> None:
    mock.get(f"{SM}/subscription").respond(json=[_sub(listed_url, listed_plant, "other")])
    mock.post(f"{SM}/plants/{PLANT}/subscription").respond(201, json={"subscriptionId": "new"})
    assert await client.smarther.ensure_subscription(PLANT, URL) == "new"


@pytest.mark.asyncio
async def test_ensure_subscription_409_removes_a_stale_one_listed_without_its_plant(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    listing = mock.get(f"{SM}/subscription")
    listing.side_effect = [httpx.Response(204), httpx.Response(200, json=[_sub(plant="")])]
    post = mock.post(f"{SM}/plants/{PLANT}/subscription")
    post.side_effect = [
        httpx.Response(409, json={"statusCode": 409, "message": "Subscription already exists"}),
        httpx.Response(201, json={"subscriptionId": "fresh"}),
    ]
    delete = mock.delete(f"{SM}/plants/{PLANT}/subscription/{SUBSCRIPTION}").respond(200)
    assert await client.smarther.ensure_subscription(PLANT, URL) == "fresh"
    assert delete.call_count == 1  # addressed through the plant asked for


@pytest.mark.asyncio
async def test_ensure_subscription_subscribes_when_absent(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{SM}/subscription").respond(204)
    post = mock.post(f"{SM}/plants/{PLANT}/subscription").respond(
        201, json={"subscriptionId": "new-id"}
    )
    assert await client.smarther.ensure_subscription(PLANT, URL) == "new-id"
    assert json.loads(post.calls.last.request.content) == {"EndPointUrl": URL}


@pytest.mark.asyncio
async def test_ensure_subscription_409_keeps_one_the_list_shows_now(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    """409, and the list shows it now: made meanwhile by another client; live, so kept."""
    listing = mock.get(f"{SM}/subscription")
    listing.side_effect = [httpx.Response(204), httpx.Response(200, json=[_sub()])]
    post = mock.post(f"{SM}/plants/{PLANT}/subscription").respond(
        409, json={"statusCode": 409, "message": "Subscription already exists"}
    )
    assert await client.smarther.ensure_subscription(PLANT, URL) == SUBSCRIPTION
    assert (listing.call_count, post.call_count) == (2, 1)  # and no DELETE (assert_all_called)


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["http://example.org/hook", "ftp://example.org/x", "/relative"])
async def test_ensure_subscription_https_only(client: LegrandClient, bad: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(ValueError, match="https"):
            await client.smarther.ensure_subscription(PLANT, bad)
        assert len(router.calls) == 0


# ---------------------------------------------------------------------------- single flight


async def _both(client: LegrandClient, *calls: tuple[str, str]) -> list[str]:
    ids: list[str] = [""] * len(calls)

    async def one(i: int, plant: str, url: str) -> None:
        ids[i] = await client.smarther.ensure_subscription(plant, url)

    async with anyio.create_task_group() as tg:
        for i, (plant, url) in enumerate(calls):
            tg.start_soon(one, i, plant, url)
    return ids


def _later(response: httpx.Response) -> Any:
    """A respx side effect answering ``response`` after a checkpoint, so that callers overlap."""

    async def answer(request: httpx.Request) -> httpx.Response:
        await anyio.lowlevel.checkpoint()
        return response

    return answer


@pytest.mark.asyncio
async def test_two_calls_at_once_share_one_flight(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    listing = mock.get(f"{SM}/subscription").mock(side_effect=_later(httpx.Response(204)))
    post = mock.post(f"{SM}/plants/{PLANT}/subscription").mock(
        side_effect=_later(httpx.Response(201, json={"subscriptionId": "only-one"}))
    )
    spelled = URL.replace("https://example.org", "HTTPS://EXAMPLE.org:443") + "/"
    ids = await _both(client, (PLANT, URL), (f"bs_cloud_{PLANT}", spelled))
    assert ids == ["only-one", "only-one"]
    assert (listing.call_count, post.call_count) == (1, 1)


@pytest.mark.asyncio
async def test_calls_for_other_urls_or_plants_do_not_wait_for_each_other(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    other_plant = "11111111-2222-3333-4444-555555555555"
    held = anyio.Event()
    ids: dict[str, str] = {}

    async def list_(request: httpx.Request) -> httpx.Response:
        if not held.is_set():  # the first caller's listing waits until the others are done
            held.set()
            with anyio.fail_after(5):
                while len(ids) < 2:
                    await anyio.lowlevel.checkpoint()
        return httpx.Response(204)

    def subscribe(request: httpx.Request) -> httpx.Response:
        plant = request.url.path.split("/")[4]
        url = json.loads(request.content)["EndPointUrl"]
        return httpx.Response(201, json={"subscriptionId": f"{plant[:8]}{url[-1]}"})

    mock.get(f"{SM}/subscription").mock(side_effect=list_)
    mock.post(url__regex=rf"{SM}/plants/[^/]+/subscription").mock(side_effect=subscribe)

    async def one(name: str, plant: str, url: str) -> None:
        ids[name] = await client.smarther.ensure_subscription(plant, url)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "first", PLANT, URL + "a")
        tg.start_soon(one, "other url", PLANT, URL + "b")
        tg.start_soon(one, "other plant", other_plant, URL + "c")
    assert ids == {"other url": "b5e48d6fb", "other plant": "11111111c", "first": "b5e48d6fa"}


@pytest.mark.asyncio
async def test_an_error_is_shared_by_the_callers_waiting(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    listing = mock.get(f"{SM}/subscription").mock(
        side_effect=_later(httpx.Response(500, json={"statusCode": 500, "message": "down"}))
    )
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await client.smarther.ensure_subscription(PLANT, URL)
        except ServerError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert len(errors) == 2
    assert listing.call_count == 4  # one caller's attempts (RetryPolicy: 4), not two callers'


class _Interleaved(httpx.AsyncBaseTransport):
    """Lets other tasks run before and after each request, as a network would."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await anyio.lowlevel.checkpoint()
        response = await self.inner.handle_async_request(request)
        await anyio.lowlevel.checkpoint()
        return response


class _Gated(httpx.AsyncBaseTransport):
    """Holds the first subscription listing until cancelled; passes everything else."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.entered = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subscription") and not self.entered.is_set():
            self.entered.set()
            await anyio.sleep_forever()
        return await self.inner.handle_async_request(request)


@pytest.mark.asyncio
async def test_a_cancelled_leader_hands_over_to_a_waiting_caller(clock: Any) -> None:
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    gated = _Gated(sim.transport())
    got: list[str] = []
    async with sim.client(transport=gated) as client:
        async with anyio.create_task_group() as tg:
            leader = anyio.CancelScope()

            async def lead() -> None:
                with leader:
                    await client.smarther.ensure_subscription(plant, URL)

            async def follow() -> None:
                got.append(await client.smarther.ensure_subscription(plant, URL))

            tg.start_soon(lead)
            await gated.entered.wait()
            tg.start_soon(follow)
            await anyio.lowlevel.checkpoint()
            leader.cancel()
        assert leader.cancelled_caught
        listed = await client.smarther.list_subscriptions()
    assert [s.subscription_id for s in listed] == got


@pytest.mark.asyncio
@pytest.mark.parametrize("clients", [1, 2])
async def test_callers_at_once_end_with_one_live_subscription(clock: Any, clients: int) -> None:
    """Against the simulator: one client (single flight) or two (the 409 path keeps it)."""
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    wire = _Interleaved(sim.transport())
    async with sim.client(transport=wire) as first, sim.client(transport=wire) as second:
        ids: list[str] = []

        async def one(client: LegrandClient) -> None:
            ids.append(await client.smarther.ensure_subscription(plant, URL))

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(one, first if clients == 1 or i % 2 else second)
        listed = await first.smarther.list_subscriptions()
    assert len(set(ids)) == 1
    assert [(s.plant_id, s.subscription_id) for s in listed] == [(plant, ids[0])]


# ------------------------------------------------------------------- ids the server sends


@pytest.mark.asyncio
@pytest.mark.parametrize("prefix", ["bs_cloud_", "BS_CLOUD_", "Bs_Cloud_"])
async def test_a_plant_id_with_the_cloud_prefix_is_subscribed_without_it(
    client: LegrandClient, mock: respx.MockRouter, prefix: str
) -> None:
    mock.get(f"{SM}/subscription").respond(204)
    post = mock.post(f"{SM}/plants/{PLANT}/subscription").respond(
        201, json={"subscriptionId": "new"}
    )
    assert await client.smarther.ensure_subscription(prefix + PLANT, URL) == "new"
    assert post.call_count == 1


@pytest.mark.asyncio
async def test_listed_ids_that_are_not_uuids_never_raise(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    """A stale subscription listed without a plant, with an id that is not a UUID, is removed."""
    listed = [
        _sub(plant="plant-1", sid="x"),
        _sub("https://other.example/x", plant="bs_cloud_not-a-uuid", sid="y"),
        {"plantId": 42, "subscriptionId": 7, "EndPointUrl": "https://other.example/z"},
        _sub(plant="", sid="sub/with odd%chars"),
    ]
    listing = mock.get(f"{SM}/subscription")
    listing.side_effect = [httpx.Response(200, json=listed), httpx.Response(200, json=listed)]
    post = mock.post(f"{SM}/plants/{PLANT}/subscription")
    post.side_effect = [
        httpx.Response(409, json=CONFLICT),
        httpx.Response(201, json={"subscriptionId": "fresh"}),
    ]
    delete = mock.delete(
        url=f"{SM}/plants/{PLANT}/subscription/sub%2Fwith%20odd%25chars"
    ).respond(200)
    assert await client.smarther.ensure_subscription(PLANT, URL) == "fresh"
    assert delete.call_count == 1


@pytest.mark.asyncio
async def test_a_listed_subscription_id_that_is_not_a_uuid_is_returned_as_given(
    client: LegrandClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{SM}/subscription").respond(json=[_sub(plant=f"bs_cloud_{PLANT}", sid="sub-1")])
    assert await client.smarther.ensure_subscription(PLANT, URL) == "sub-1"


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["not-a-uuid", "bs_cloud_", "", f"{PLANT}/x"])
async def test_a_plant_id_that_cannot_be_a_plant_is_refused_before_any_request(
    client: LegrandClient, bad: str
) -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(ValueError, match="plant_id"):
            await client.smarther.ensure_subscription(bad, URL)
        assert len(router.calls) == 0


@pytest.mark.asyncio
async def test_a_cloud_prefixed_plant_id_end_to_end(clock: Any) -> None:
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    async with sim.client() as client:
        sid = await client.smarther.ensure_subscription(f"bs_cloud_{plant}", URL)
        assert await client.smarther.ensure_subscription(plant, URL) == sid
        listed = await client.smarther.list_subscriptions()
    assert [(s.plant_id, s.subscription_id) for s in listed] == [(plant, sid)]


def test_the_single_flight_runs_under_trio() -> None:
    import trio

    from .conftest import FakeClock, make_client

    async def main() -> list[str]:
        with respx.mock(base_url="https://api.developer.legrand.com") as mock:
            listing = mock.get(f"{SM}/subscription").mock(side_effect=_later(httpx.Response(204)))
            post = mock.post(f"{SM}/plants/{PLANT}/subscription").mock(
                side_effect=_later(httpx.Response(201, json={"subscriptionId": "trio-id"}))
            )
            async with make_client(FakeClock()) as client:
                ids = await _both(client, (PLANT, URL), (PLANT, URL))
            assert (listing.call_count, post.call_count) == (1, 1)
        return ids

    assert trio.run(main) == ["trio-id", "trio-id"]
