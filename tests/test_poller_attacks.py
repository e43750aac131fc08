"""The poller under attack: what a server may send, every error class on discovery, closing
and cancelling at any moment, odd numbers, clock jumps. Time is a FakeClock throughout.

``Wire`` answers the plant list and the topologies with raw JSON (or an error) chosen by the
test, call by call; the statuses are always fine, so what is tested is discovery's.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

from legrand_async import (
    ClientSecretExpired,
    MemoryTokenStore,
    OAuth2Auth,
    RateLimit,
    Unauthorized,
)

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
QUOTA = "Out of call volume quota. Quota will be replenished in 01:00:00."

Answer = Callable[[httpx.Request], httpx.Response]


def uid(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def raw(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def error(status: int, message: str = "error", **headers: str) -> Answer:
    body = {"statusCode": status, "message": message}
    return lambda request: httpx.Response(status, json=body, headers=headers)


def raising(exc: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("the server went away", request=request)

    return answer


#: A 2xx body that is not JSON: a ResponseValidationError (or, retried like a dropped
#: connection as issue 12 asks, a TransportError once the attempts are spent).
BODY = "ResponseValidationError", "TransportError"
#: Every way a discovery call can fail, and the class the poller counts it as.
FAILURES: dict[str, tuple[Answer, str | tuple[str, ...]]] = {
    "408": (error(408), "RequestTimeout"),
    "429 with Retry-After": (error(429, "Rate limit", **{"Retry-After": "7"}), "RateLimited"),
    "429 without": (error(429, "Rate limit"), "RateLimited"),
    "429 Retry-After 1e308": (error(429, "Rate limit", **{"Retry-After": "1e308"}), "RateLimited"),
    "486": (error(486, "Busy visual user interface"), "DeviceBusy"),
    "500": (error(500), "ServerError"),
    "502": (error(502), "ServerError"),
    "503": (error(503), "ServerError"),
    "504": (error(504), "ServerError"),
    "500 as html": (lambda r: httpx.Response(500, content=b"<html>down</html>"), "ServerError"),
    "403 quota": (error(403, QUOTA), "ServerQuotaExhausted"),
    "403": (error(403, "Forbidden"), "Forbidden"),
    "404": (error(404, "Not found"), "NotFound"),
    "302": (lambda r: httpx.Response(302, headers={"Location": "https://x.example"}), "APIError"),
    "not JSON": (lambda r: httpx.Response(200, content=b"<html>oops</html>"), BODY),
    "truncated": (lambda r: httpx.Response(200, content=b'{"plants": [{"id": "'), BODY),
    "wrong JSON type": (lambda r: raw(["not", "an", "object"]), "ResponseValidationError"),
    "connection reset": (raising(httpx.ReadError), "TransportError"),
    "read timeout": (raising(httpx.ReadTimeout), "TransportError"),
    "connect error": (raising(httpx.ConnectError), "TransportError"),
}


def thermostat(module: object) -> dict[str, object]:
    return {"device": "chronothermostat", "id": module, "name": "Room"}


class Wire:
    """The plant list and the topologies, answered as the test says.

    ``plants`` maps each plant id (as listed) to its module entries (as sent); ``listing``
    is the plant list's body (default: every plant). ``failing[what]`` is a list of answers
    used, one per call, before the normal answer (``what`` is ``"plants"`` or a plant id);
    ``rate`` and ``kinds`` make every discovery call fail at random too.
    """

    def __init__(self, router: respx.MockRouter, clock: Clock, plants: dict[str, list[Any]]):
        self.plants = plants
        self.clock = clock
        self.listing: object | None = None
        self.failing: dict[str, list[Answer]] = {}
        self.rate = 0.0
        self.kinds: list[Answer] = []
        self.rng = random.Random(0)
        self.calls: list[tuple[float, str]] = []
        router.get(f"{BASE}{SM}/plants").mock(side_effect=self._list)
        router.get(url__regex=rf"{SM}/plants/(?P<plant>[^/]+)/topology$").mock(
            side_effect=self._topology
        )
        router.get(url__regex=r"/value/(?P<module>[^/]+)$").mock(side_effect=self._status)

    def _fault(self, what: str, request: httpx.Request) -> httpx.Response | None:
        self.calls.append((self.clock.monotonic(), what))
        if self.failing.get(what):
            return self.failing[what].pop(0)(request)
        if self.rate and self.rng.random() < self.rate:
            return self.rng.choice(self.kinds)(request)
        return None

    def _list(self, request: httpx.Request) -> httpx.Response:
        answer = self._fault("plants", request)
        if answer is not None:
            return answer
        listing = self.listing
        if listing is None:
            listing = {"plants": [{"id": p, "name": "Home"} for p in self.plants]}
        return raw(listing)

    def _topology(self, request: httpx.Request, plant: str) -> httpx.Response:
        answer = self._fault(plant, request)
        if answer is not None:
            return answer
        listed = next((p for p in self.plants if isinstance(p, str) and p.endswith(plant)), None)
        if listed is None:
            return error(404)(request)
        return raw({"plant": {"id": plant, "name": "Home", "modules": self.plants[listed]}})

    def _status(self, request: httpx.Request, module: str) -> httpx.Response:
        plant = request.url.path.split("/plants/")[1].split("/")[0]
        self.calls.append((self.clock.monotonic(), f"status {module}"))
        return httpx.Response(200, json=status_body(plant, module))

    def when(self, what: str) -> list[float]:
        return [t for t, w in self.calls if w == what]


@pytest.fixture
def fake() -> Clock:
    return Clock()


# --------------------------------------------------------------------------------------------
# What a server may send as ids and entries
# --------------------------------------------------------------------------------------------

GOOD, MODULE = uid(1), uid(11)


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ({"id": None, "name": "x"}, "None"),
        ({"id": 1234, "name": "x"}, "1234"),
        ({"id": 12.5, "name": "x"}, "12.5"),
        ({"id": True, "name": "x"}, "True"),
        ({"id": {"uuid": uid(2)}, "name": "x"}, None),
        ({"id": [uid(2)], "name": "x"}, None),
        ({"name": "no id"}, "None"),
        (None, "None"),
        (42, "42"),
        ([uid(2)], None),
        ({"id": "", "name": "x"}, ""),
        ({"id": "x" * 10_000, "name": "x"}, "x" * 10_000),
        ({"id": uid(2) + "/../" + uid(3), "name": "x"}, uid(2) + "/../" + uid(3)),
        ({"id": "..", "name": "x"}, ".."),
        ({"id": uid(2).replace("-", "%2F", 1), "name": "x"}, uid(2).replace("-", "%2F", 1)),
        ({"id": uid(2)[:-1] + "\x07", "name": "x"}, uid(2)[:-1] + "\x07"),
        ({"id": "bs_cloud_" + "é" * 36, "name": "x"}, "bs_cloud_" + "é" * 36),
    ],
)
@pytest.mark.asyncio
async def test_a_plant_entry_that_cannot_be_polled_costs_that_entry_only(
    fake: Clock, router: respx.MockRouter, entry: object, shown: str | None
) -> None:
    wire = Wire(router, fake, {GOOD: [thermostat(MODULE)]})
    wire.listing = {"plants": [entry, {"id": GOOD, "name": "Home"}]}
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        (change,) = await run_for(poller, fake, 120)
        found = poller.discovery
    assert change.target == (GOOD, MODULE)
    assert found is not None
    assert found.plants == (GOOD,)
    assert len(found.skipped) == 1
    (key, reason) = next(iter(found.skipped.items()))
    assert key == shown if shown is not None else len(key) < 100  # shortened, never huge
    assert reason.startswith("plant id not polled: ")
    assert not poller.errors
    assert [w for _, w in wire.calls if w != "plants" and "status" not in w] == [GOOD]


@pytest.mark.parametrize(
    "module",
    [
        {"device": "chronothermostat", "id": None, "name": "Room"},
        {"device": "chronothermostat", "id": 7, "name": "Room"},
        {"device": "chronothermostat", "id": {"a": 1}, "name": "Room"},
        {"device": "chronothermostat", "name": "Room"},
        {"device": "chronothermostat", "id": "not-a-uuid", "name": "Room"},
        {"device": "chronothermostat", "id": "", "name": "Room"},
        {"device": "chronothermostat", "id": "../" + uid(12), "name": "Room"},
    ],
)
@pytest.mark.asyncio
async def test_a_thermostat_entry_that_cannot_be_polled_is_skipped_and_named(
    fake: Clock, router: respx.MockRouter, module: dict[str, object]
) -> None:
    Wire(router, fake, {GOOD: [module, thermostat(MODULE)]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        (change,) = await run_for(poller, fake, 120)
        found = poller.discovery
    assert change.target == (GOOD, MODULE)
    assert found is not None
    assert len(found.skipped) == 1
    assert "module id of plant" in next(iter(found.skipped.values()))
    assert found.pending == ()
    assert not poller.errors


@pytest.mark.parametrize(
    "module",
    [
        {"device": "plug", "id": uid(12), "name": "Lamp"},
        {"device": None, "id": uid(12), "name": "?"},
        {"id": uid(12), "name": "no device"},
        {"device": 7, "id": uid(12)},
        {"device": "chronothermostat-2", "id": uid(12), "name": "?"},
        "a module that is a string",
        None,
        [],
    ],
)
@pytest.mark.asyncio
async def test_modules_that_are_not_thermostats_never_cost_the_plant(
    fake: Clock, router: respx.MockRouter, module: object
) -> None:
    Wire(
        router,
        fake,
        {GOOD: [module, thermostat(MODULE), {"device": "CHRONOTHERMOSTAT", "id": uid(13)}]},
    )
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        changes = await run_for(poller, fake, 120)
        found = poller.discovery
    assert {c.target for c in changes} == {(GOOD, MODULE), (GOOD, uid(13))}  # no name: fine
    assert found is not None
    assert not found.skipped  # not a thermostat: not polled, nothing to report
    assert not poller.errors


@pytest.mark.asyncio
async def test_duplicates_are_polled_once(fake: Clock, router: respx.MockRouter) -> None:
    wire = Wire(router, fake, {GOOD: [thermostat(MODULE)] * 3})
    wire.listing = {"plants": [{"id": GOOD}, {"id": GOOD, "name": "again"}, {"id": GOOD}]}
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        changes = await run_for(poller, fake, 200)
    assert [c.target for c in changes] == [(GOOD, MODULE)]
    assert poller.targets == ((GOOD, MODULE),)
    assert len(wire.when(GOOD)) == 1
    assert len(wire.when(f"status {MODULE}")) == 4  # at 0, 60, 120 and 180 s


@pytest.mark.parametrize(
    "topology",
    [
        {"plant": {"id": GOOD, "name": "Home"}},
        {"plant": {"id": GOOD, "name": "Home", "modules": []}},
        {"plant": {"modules": [{"device": "plug", "id": uid(12), "name": "Lamp"}]}},
    ],
)
@pytest.mark.asyncio
async def test_a_plant_without_thermostats_is_read_and_not_retried(
    fake: Clock, router: respx.MockRouter, topology: object
) -> None:
    wire = Wire(router, fake, {GOOD: [], uid(2): [thermostat(uid(21))]})
    wire.failing[GOOD] = [lambda request: raw(topology)]
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60, discovery_interval=3600)
        changes = await run_for(poller, fake, 3000)
        found = poller.discovery
    assert [c.target for c in changes] == [(uid(2), uid(21))]
    assert found is not None
    assert found.pending == found.retrying == ()
    assert len(wire.when(GOOD)) == 1  # read once: only the next listing reads it again
    assert not poller.errors


@pytest.mark.parametrize(
    "body",
    [
        {"plants": {"id": GOOD}},
        {"plants": "all of them"},
        [{"id": GOOD}],
        {"plant": [{"id": GOOD}]},
    ],
)
@pytest.mark.asyncio
async def test_a_plant_list_of_the_wrong_shape_is_counted_and_retried(
    fake: Clock, router: respx.MockRouter, body: object
) -> None:
    wire = Wire(router, fake, {GOOD: [thermostat(MODULE)]})
    wire.failing["plants"] = [lambda request: raw(body)] * 2
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        (change,) = await run_for(poller, fake, 120)
    assert change.target == (GOOD, MODULE)
    assert poller.errors == Counter({"ResponseValidationError": 2})
    lists = wire.when("plants")
    assert [round(t - lists[0]) for t in lists] == [0, 10, 30]  # its own backoff


@pytest.mark.asyncio
async def test_plants_that_disappear_and_reappear(fake: Clock, router: respx.MockRouter) -> None:
    a, b, c = uid(1), uid(2), uid(3)
    wire = Wire(router, fake, {a: [thermostat(uid(11))], b: [thermostat(uid(21))]})
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60, discovery_interval=600)
        first = await run_for(poller, fake, 300)
        assert {ch.plant_id for ch in first} == {a, b}
        gone = wire.plants.pop(b)
        wire.plants[c] = [thermostat(uid(31)), thermostat(uid(32))]  # the list changes
        second = await run_for(poller, fake, 600)
        assert set(poller.targets) == {(a, uid(11)), (c, uid(31)), (c, uid(32))}
        assert {ch.plant_id for ch in second} == {c}  # new plants polled at once
        wire.plants[b] = gone  # back again, in another order
        wire.plants = dict(reversed(list(wire.plants.items())))
        third = await run_for(poller, fake, 600)
    assert [ch.target for ch in third] == [(b, uid(21))]
    assert third[0].previous is None  # forgotten while gone: a first read again
    assert set(poller.targets) == {(a, uid(11)), (b, uid(21)), (c, uid(31)), (c, uid(32))}
    gaps = {round(y - x) for x, y in itertools.pairwise(wire.when(f"status {uid(11)}"))}
    assert gaps == {60}  # the plant that stayed was polled on time all along
    assert not poller.errors


# --------------------------------------------------------------------------------------------
# Every error class on discovery
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["plants", "topology"])
@pytest.mark.parametrize("kind", list(FAILURES))
@pytest.mark.asyncio
async def test_every_failure_of_discovery_is_outlived_and_counted(
    fake: Clock, router: respx.MockRouter, kind: str, where: str
) -> None:
    known, late = uid(1), uid(2)
    wire = Wire(router, fake, {known: [thermostat(uid(11))], late: [thermostat(uid(21))]})
    answer, counted = FAILURES[kind]
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=300, discovery_interval=3600)
        if where == "plants":  # the first list is fine, the next ones fail
            await take(poller, 2)
            wire.failing["plants"] = [answer] * 3
        else:
            wire.failing[late] = [answer] * 3
        changes = await run_for(poller, fake, 4 * 3600)
        found = poller.discovery
    assert found is not None
    assert found.pending == found.retrying == ()
    assert len(found.plants) == 2
    assert (late, uid(21)) in poller.targets
    assert sum(poller.errors.values()) == 3
    assert len(poller.errors) == 1
    assert next(iter(poller.errors)) in (counted if isinstance(counted, tuple) else (counted,))
    # The known thermostat was polled all along, on time (a spent quota is waited out: the
    # server would refuse its reads too).
    gaps = {round(y - x) for x, y in itertools.pairwise(wire.when(f"status {uid(11)}"))}
    assert max(gaps) <= (3 * 3600 + 300 if kind == "403 quota" else 300)
    assert changes or where == "plants"


@pytest.mark.parametrize(
    "body",
    [
        lambda r: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=["deep JSON"],  # a lying encoding: tests/test_bounded.py (respx decodes it)
)
@pytest.mark.asyncio
async def test_a_body_the_transport_cannot_read_is_outlived_too(
    fake: Clock, router: respx.MockRouter, body: Answer
) -> None:
    wire = Wire(router, fake, {GOOD: [thermostat(MODULE)]})
    wire.failing["plants"] = [body]
    async with respx_client(fake, retry=ONE_TRY) as client:
        poller = client.poll_thermostats(interval=60)
        (change,) = await run_for(poller, fake, 120)
    assert change.target == (GOOD, MODULE)
    assert sum(poller.errors.values()) == 1


@pytest.mark.parametrize("rate", [0.2, 0.6, 0.9])
@pytest.mark.asyncio
async def test_discovery_failing_at_random_never_stalls_the_polls(
    fake: Clock, router: respx.MockRouter, rate: float
) -> None:
    plants = {uid(n): [thermostat(uid(100 + n))] for n in range(1, 5)}
    wire = Wire(router, fake, plants)
    # Everything but a spent quota, which is waited out (above) rather than outlived.
    wire.kinds = [answer for kind, (answer, _) in FAILURES.items() if kind != "403 quota"]
    wire.rate = rate
    async with respx_client(fake, retry=NO_WAIT) as client:
        poller = client.poll_thermostats(interval=120, discovery_interval=1800)
        changes = await run_for(poller, fake, 8 * 3600)
        found = poller.discovery
    assert {c.target for c in changes} == {(p, m[0]["id"]) for p, m in plants.items()}
    assert found is not None
    assert poller.errors  # outlived, counted
    assert not {"QuotaExhausted", "ServerQuotaExhausted"} & set(poller.errors)
    reads = [t for t, w in wire.calls if w.startswith("status")]
    # Polls never stalled: every 2 minutes, a discovery call's retries (Retry-After) apart.
    assert max(y - x for x, y in itertools.pairwise(reads)) <= 120 + 60


@pytest.mark.asyncio
async def test_a_401_that_a_refresh_mends_is_not_even_counted(fake: Clock) -> None:
    sim = fleet(fake, plants=3, per_plant=1)
    async with sim_client(sim, fake, per_day=None) as client:
        poller = client.poll_thermostats(interval=60)
        changes = await take(poller, 1)  # in the middle of discovery
        sim.app.access.clear()  # every access token revoked: the next call is answered 401
        changes += await run_for(poller, fake, 600)
        sim.app.access.clear()
        changes += await run_for(poller, fake, 600)
    assert {c.target for c in changes} == set(thermostats(sim))
    assert poller.polls >= 3 * 19  # every minute all along
    assert not poller.errors


@pytest.mark.asyncio
async def test_a_401_that_needs_the_user_is_raised(fake: Clock, router: respx.MockRouter) -> None:
    wire = Wire(router, fake, {GOOD: [thermostat(MODULE)], uid(2): [thermostat(uid(21))]})
    wire.failing[uid(2)] = [error(401, "Unauthorized. Access token is missing or invalid.")]
    async with respx_client(fake, retry=ONE_TRY) as client:  # a fixed token: nothing to refresh
        poller = client.poll_thermostats(interval=60, concurrency=1)
        with pytest.raises(Unauthorized):
            await run_for(poller, fake, 600)
        found = poller.discovery
    assert found is not None
    assert uid(2) in found.pending  # not lost: read first if iterated again


class TokenOutage(httpx.AsyncBaseTransport):
    """The simulator, its token endpoint answering ``answer`` while ``down``."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport, answer: Callable[[], httpx.Response]):
        self.wrapped, self.answer, self.down, self.refused = wrapped, answer, True, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down and request.url.path.endswith("/token"):
            self.refused += 1
            return self.answer()
        return await self.wrapped.handle_async_request(request)


@pytest.mark.parametrize(
    ("answer", "counted"),
    [
        (lambda: httpx.Response(503, json={"error": "server_error"}), "TokenServerError"),
        (lambda: httpx.Response(429, json={"error": "slow_down"}), "TokenRateLimited"),
        (lambda: httpx.Response(200, content=b"<html>maintenance</html>"), "InvalidTokenResponse"),
    ],
    ids=["5xx", "429", "not JSON"],
)
@pytest.mark.asyncio
async def test_a_token_endpoint_down_for_a_while_is_outlived(
    fake: Clock, answer: Callable[[], httpx.Response], counted: str
) -> None:
    """AuthErrors that are also passing faults (a 5xx, a 429, nonsense) are counted, not raised:
    the next call tries the refresh again."""
    sim = fleet(fake, plants=2, per_plant=1)
    outage = TokenOutage(sim.transport(), answer)
    app = sim.oauth_app(transport=outage)
    token = await sim.sign_in(sim.oauth_app())
    auth = OAuth2Auth(app, MemoryTokenStore(token), clock=fake)
    async with sim.client(clock=fake, rate_limit=None, retry=NO_WAIT, auth=auth) as client:
        poller = client.poll_thermostats(interval=600)
        changes = await take(poller, 2)
        sim.app.access.clear()  # every access token revoked: each call needs a refresh
        changes += await run_for(poller, fake, 1800)
        assert poller.errors[counted] > 0  # outlived, counted
        outage.down = False
        polls = poller.polls
        changes += await run_for(poller, fake, 1800)
    assert outage.refused > 0
    assert poller.polls > polls  # the refresh came through: polling went on
    assert {c.target for c in changes} == set(thermostats(sim))


@pytest.mark.asyncio
async def test_an_expired_client_secret_needs_the_user(fake: Clock) -> None:
    sim = fleet(fake, plants=1, per_plant=1)
    async with sim_client(sim, fake, per_day=None) as client:
        poller = client.poll_thermostats(interval=600)
        await take(poller, 1)
        sim.app.access.clear()
        sim.expire_client_secret()
        with pytest.raises(ClientSecretExpired):
            await run_for(poller, fake, 1800)


# --------------------------------------------------------------------------------------------
# Stopping: aclose from another task, cancellation at every await, a fetch that says "stop"
# --------------------------------------------------------------------------------------------


class Stuck(Clock):
    """Long sleeps never end by themselves (as a real clock would seem, at fake speed)."""

    async def sleep(self, seconds: float) -> None:
        if seconds > 30:
            await anyio.sleep_forever()
        await super().sleep(seconds)


@pytest.mark.asyncio
async def test_aclose_from_another_task_ends_a_waiting_consumer_at_once() -> None:
    clock = Stuck()
    sim = fleet(clock, plants=1, per_plant=1)
    before = task_count()
    async with sim_client(sim, clock) as client:
        poller = client.poll_thermostats(interval=3600)
        await take(poller, 1)
        ended = anyio.Event()

        async def consume() -> None:
            async for _ in poller:
                pass  # pragma: no cover - nothing changes
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            for _ in range(10):  # the consumer is asleep until the next read, in an hour
                await anyio.lowlevel.checkpoint()
            assert not ended.is_set()
            await poller.aclose()
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            assert ended.is_set()
        assert poller.value(poller.targets[0]) is None  # closed: nothing kept
    assert task_count() == before


@pytest.mark.asyncio
async def test_cancelling_at_every_await_leaves_no_task_and_loses_nothing() -> None:
    for checkpoints in range(0, 240, 5):  # discovery, first reads, the ring, retries
        clock = Clock()
        sim = fleet(clock, plants=3, per_plant=2)
        sim.faults.rate = 0.3
        sim.faults.rng.seed(checkpoints)
        async with sim_client(sim, clock, per_second=5) as client:
            poller = client.poll_thermostats(interval=60, concurrency=3)
            before = task_count()
            seen: set[tuple[str, str]] = set()
            with anyio.CancelScope() as scope:

                async def cancel(scope: anyio.CancelScope = scope, n: int = checkpoints) -> None:
                    for _ in range(n):
                        await anyio.lowlevel.checkpoint()
                    scope.cancel()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(cancel)
                    async for change in poller:
                        seen.add(change.target)
            assert task_count() == before, checkpoints
            seen |= {c.target for c in await run_for(poller, clock, 1800)}
        assert seen == set(thermostats(sim)), checkpoints


@pytest.mark.parametrize("stop", [StopAsyncIteration, StopIteration])
@pytest.mark.asyncio
async def test_a_fetch_that_raises_stop_iteration_is_a_bug_not_the_end(
    fake: Clock, stop: type[Exception]
) -> None:
    async def fetch(target: int) -> int:
        raise stop

    async with respx_client(fake) as client:
        poller = client.poll(fetch, [1, 2])
        with pytest.raises(RuntimeError, match=stop.__name__):
            await run_for(poller, fake, 60)


# --------------------------------------------------------------------------------------------
# Odd numbers and clocks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [5e-324, 1e-320, 1e-9, 1e308])
@pytest.mark.asyncio
async def test_extreme_intervals_without_a_limiter_neither_overflow_nor_stall(
    fake: Clock, interval: float
) -> None:
    reads: list[float] = []

    async def fetch(target: int) -> float:
        reads.append(fake.monotonic())
        await fake.sleep(0.01)  # a call takes some time
        return fake.monotonic()

    async with respx_client(fake) as client:
        poller = client.poll(fetch, [1, 2, 3], interval=interval, key=lambda v: 0)
        await run_for(poller, fake, 5)
    assert len(reads) >= 3
    if interval > 1:
        assert len(reads) == 3  # the first reads, then not again for ages


@pytest.mark.asyncio
async def test_a_tiny_discovery_interval_still_reads_every_topology(
    fake: Clock, router: respx.MockRouter
) -> None:
    plants = {uid(n): [thermostat(uid(100 + n))] for n in range(1, 6)}
    wire = Wire(router, fake, plants)
    limit = RateLimit(per_second=2, per_day=None, clock=fake)
    async with respx_client(fake, retry=ONE_TRY, rate_limit=limit) as client:
        poller = client.poll_thermostats(interval=60, discovery_interval=1e-3, concurrency=2)
        changes = await run_for(poller, fake, 120)
    assert {c.target for c in changes} == {(p, m[0]["id"]) for p, m in plants.items()}
    lists = len(wire.when("plants"))
    topologies = sum(len(wire.when(p)) for p in plants)
    assert topologies >= 5 * (lists - 1)  # each listing's topologies read before the next


class Jumpy(Clock):
    """A clock whose wall time jumps (a user, NTP, a suspended laptop); monotonic time does
    not. ``jumps`` are (monotonic moment, seconds to add to the wall time)."""

    def __init__(self, start: datetime, jumps: list[tuple[float, float]]) -> None:
        super().__init__(start)
        self.jumps = sorted(jumps)

    def now(self) -> datetime:
        while self.jumps and self.monotonic() >= self.jumps[0][0]:
            self._now += timedelta(seconds=self.jumps.pop(0)[1])
        return super().now()


NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
HOUR = 3600.0


@pytest.mark.parametrize(
    ("start", "jumps", "zone", "interval"),
    [
        (NOON, [(HOUR, -HOUR)], None, None),
        (NOON, [(HOUR, HOUR)], None, 60.0),
        (NOON, [(HOUR, -86400)], None, None),
        (NOON, [(HOUR, -86400)], None, 60.0),
        (NOON, [(HOUR, 86400)], None, None),
        (NOON, [(HOUR, 30 * 86400)], None, 60.0),
        (NOON, [(12 * HOUR - 60, -2 * HOUR)], None, None),  # back over midnight
        (NOON, [(t, -600) for t in range(3600, 2 * 86400, 7200)], None, None),  # drifting
        (NOON, [(t, 600) for t in range(3600, 2 * 86400, 7200)], None, 60.0),
        (datetime(2026, 3, 28, 12, tzinfo=UTC), [], "Europe/Paris", None),  # spring forward
        (datetime(2026, 10, 24, 12, tzinfo=UTC), [(13 * HOUR, -HOUR)], "Europe/Paris", None),
    ],
)
@pytest.mark.asyncio
async def test_clock_jumps_neither_burst_nor_stall(
    start: datetime, jumps: list[tuple[float, float]], zone: str | None, interval: float | None
) -> None:
    clock = Jumpy(start, jumps)
    sim = fleet(clock, plants=2, per_plant=2)
    resets = {"day_resets_at": time(0, tzinfo=ZoneInfo(zone))} if zone else {}
    token = await sim.sign_in()
    auth = OAuth2Auth(sim.oauth_app(), MemoryTokenStore(token), clock=clock)
    limit = RateLimit(per_second=None, per_day=200, clock=clock, **resets)
    async with sim.client(clock=clock, rate_limit=limit, auth=auth, retry=NO_WAIT) as client:
        poller = client.poll_thermostats(interval=interval)
        reads: list[float] = []
        fetch = poller._fetch

        async def counted(target: tuple[str, str]) -> Any:
            reads.append(clock.monotonic())
            return await fetch(target)

        poller._fetch = counted
        await run_for(poller, clock, 2 * 86400)
    per_hour = Counter(int(t // HOUR) for t in reads)
    # No burst: the 160 calls a day spread over the day (4 thermostats read ~40 times a day,
    # more in the first hours after a jump that gives a new day), never a day's worth at once.
    assert max(per_hour.values()) <= 24
    # No stall: reads go on, at most a couple of hours apart even when a step back makes the
    # budget last longer.
    assert max(y - x for x, y in itertools.pairwise(reads)) <= 2 * HOUR
    # Within the quota: never more than a day's budget in any 24 monotonic hours, with the
    # slack of a day a forward jump gives.
    for day in range(2):
        assert sum(per_hour[h] for h in range(24 * day, 24 * day + 24)) <= 2 * 160


# --------------------------------------------------------------------------------------------
# The reserve holds over a whole day, whatever the interval says
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_day", "reserve", "interval", "concurrency", "faults", "plants"),
    [
        (20, 0.2, 1.0, 8, 0.3, 5),
        (100, 0.5, 1.0, 1, 0.6, 5),
        (100, 0.0, 60.0, 8, 0.3, 1),
        (500, 0.2, None, 8, 0.3, 5),
        (500, 0.9, 1.0, 8, 0.6, 5),
        (500, 0.2, 3600.0, 8, 0.0, 5),
    ],
)
@pytest.mark.asyncio
async def test_a_day_never_spends_the_reserve(
    per_day: int,
    reserve: float,
    interval: float | None,
    concurrency: int,
    faults: float,
    plants: int,
) -> None:
    clock = Clock()
    clock.at(0, 1)
    sim = fleet(clock, plants=plants, per_plant=2)
    sim.faults.rate = faults
    async with sim_client(sim, clock, per_day=per_day, per_second=2, retry=NO_WAIT) as client:
        poller = client.poll_thermostats(
            interval=interval, reserve=reserve, concurrency=concurrency
        )
        reads: Counter[tuple[str, str]] = Counter()
        fetch = poller._fetch

        async def counted(target: tuple[str, str]) -> Any:
            reads[target] += 1
            return await fetch(target)

        poller._fetch = counted
        await run_for(poller, clock, 86400 - 120)
        spent = client.stats.attempts
    # docs/polling.md: the reserve is never spent but for the last read's own retries.
    assert spent <= round(per_day * (1 - reserve), 6) + NO_WAIT.max_attempts - 1
    assert sim.calls_today == spent
    if interval is not None:  # a floor: no thermostat read more often than every interval
        assert max(reads.values(), default=0) <= math.ceil(86400 / interval)


# --------------------------------------------------------------------------------------------
# Bad arguments: a clear error before any request
# --------------------------------------------------------------------------------------------

PAIR = (uid(1), uid(11))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"concurrency": 2.5}, TypeError),
        ({"concurrency": 0}, ValueError),
        ({"concurrency": -1}, ValueError),
        ({"concurrency": True}, TypeError),
        ({"concurrency": "3"}, TypeError),
        ({"concurrency": math.nan}, TypeError),
        ({"interval": math.nan}, ValueError),
        ({"interval": math.inf}, ValueError),
        ({"interval": -1}, ValueError),
        ({"interval": 0}, ValueError),
        ({"interval": 10**400}, ValueError),
        ({"reserve": -0.1}, ValueError),
        ({"reserve": 1.0}, ValueError),
        ({"reserve": 1.5}, ValueError),
        ({"reserve": math.nan}, ValueError),
        ({"reserve": 10**400}, ValueError),
        ({"discovery_interval": math.nan}, ValueError),
        ({"discovery_interval": 0}, ValueError),
        ({"discovery_interval": -60}, ValueError),
        ({"discovery_interval": None}, TypeError),
        ({"targets": {PAIR[0]: PAIR[1]}}, TypeError),  # a dict iterates its keys
        ({"targets": [PAIR[0], PAIR[1]]}, TypeError),
        ({"targets": [(*PAIR, "extra")]}, TypeError),
        ({"targets": [None]}, TypeError),
        ({"targets": [(1, 2)]}, TypeError),
        ({"targets": b"ab"}, TypeError),
        ({"targets": iter([PAIR, ("x",)])}, TypeError),
        ({"targets": []}, ValueError),
        ({"targets": [(PAIR[0], "bs_cloud_" + PAIR[1])]}, ValueError),
        ({"targets": [(PAIR[0], PAIR[1] + "\n")]}, ValueError),
    ],
)
@pytest.mark.asyncio
async def test_bad_arguments_are_refused_before_any_request(
    fake: Clock, router: respx.MockRouter, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with respx_client(fake) as client:
        with pytest.raises(error) as refused:
            client.poll_thermostats(**kwargs)
        if not {"discovery_interval", "targets"} & kwargs.keys():  # client.poll() takes it too
            with pytest.raises(error):
                client.poll(client.smarther.get_status, [PAIR], **kwargs)
    message = str(refused.value)
    assert next(iter(kwargs)) in message
    assert len(message) < 200  # a clear message, not a dump
    assert not router.calls
