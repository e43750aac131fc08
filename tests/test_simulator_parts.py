"""The simulator in parts: the gateway as middleware, the OAuth app, paths with a final slash,
C2C deliveries in anyio task groups (in the background while the simulator runs).

Everything runs on a fake clock; nothing sleeps for real and nothing leaves the process.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from legrand_async import SetStatus
from legrand_async._routes import route
from legrand_async.simulator import Simulator

from .test_simulator import HOOK, client, make, raw


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path",
    ["/smarther/v2.0/plants/", "/hc/api/v1.0/plants/", "/smarther/v2.0/subscription/"],
)
async def test_a_final_slash_is_served_as_the_path_without_it(path: str) -> None:
    sim, _ = make()
    async with raw(sim) as http:
        slashed = await http.get(path)
        plain = await http.get(path.rstrip("/"))
    assert slashed.status_code == plain.status_code
    assert slashed.status_code in (200, 204)
    assert slashed.content == plain.content
    assert sim.calls_today == 2  # both went through the gateway


@pytest.mark.asyncio
async def test_a_final_slash_works_for_the_oauth_server_and_an_encoded_slash_is_kept() -> None:
    sim, _ = make()
    app = sim.oauth_app()
    url, _ = app.authorization_url()
    async with raw(sim) as http:
        answer = await http.get(url.replace("/authorize?", "/authorize/?"))
        assert answer.status_code == 302
        plant = sim.plants[0]
        path = route("multisocket", "get_plugs").render_path((plant, "name", "Lamp/"))
        assert path.endswith("Lamp%2F")
        assert (await http.get(path)).status_code == 404  # "Lamp/" is not "Lamp"
        assert (await http.get(path[: -len("%2F")])).status_code == 200


@pytest.mark.asyncio
async def test_unknown_paths_and_methods_pass_the_gateway_uncounted() -> None:
    sim, _ = make(per_day=0)
    async with raw(sim, **{"Ocp-Apim-Subscription-Key": "wrong"}) as http:
        unknown = await http.get("/smarther/v2.0/nothing")
        wrong_method = await http.delete("/smarther/v2.0/plants")
        token_get = await http.get("/token")
    assert [r.status_code for r in (unknown, wrong_method, token_get)] == [404, 405, 405]
    assert unknown.json() == {"statusCode": 404, "message": "Resource not found"}
    assert sim.calls_today == 0


@pytest.mark.asyncio
async def test_the_oauth_server_is_its_own_app_outside_the_gateway() -> None:
    sim, _ = make(per_second=1, per_day=0)  # the gateway would refuse everything
    assert await sim.sign_in()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app.oauth.asgi), base_url="http://oauth"
    ) as http:
        assert (await http.post("/token", data={"grant_type": "x"})).status_code == 400


@pytest.mark.asyncio
async def test_stop_automation_is_told_apart_by_its_fixed_body() -> None:
    sim, _ = make()
    sim.faults.kinds = ("5xx",)
    sim.faults.per_route.update(set_automation_level=1.0)  # not stop_automation
    plant = sim.plants[0]
    shutter = next(m.id for m in plant.state.ambients[0][3] if m.kind == "automation")
    path = route("home_control", "set_automation_level").render_path((plant.hc_id, shutter))
    async with raw(sim) as http:
        stopped = await http.post(path, json={"level": -1})
        moved = await http.post(path, json={"level": 40})
    assert (stopped.status_code, moved.status_code >= 500) == (200, True)
    assert sim.faults.injected == {"5xx": 1}


def receiver_log() -> tuple[list[Any], httpx.MockTransport]:
    got: list[Any] = []

    def receive(request: httpx.Request) -> httpx.Response:
        got.append(json.loads(request.content))
        return httpx.Response(200)

    return got, httpx.MockTransport(receive)


@pytest.mark.asyncio
async def test_deliveries_wait_for_delivered_when_the_simulator_is_not_running() -> None:
    got, transport = receiver_log()
    sim, clock = make(webhook_transport=transport)
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with client(sim, clock) as c:
        await c.smarther.subscribe(plant, HOOK)
        await c.smarther.set_status(plant, module, SetStatus.manual(21))
        await anyio.lowlevel.checkpoint()
        assert got == []  # queued
        assert await sim.delivered() == [(HOOK, 200)]
    assert len(got) == 1


@pytest.mark.asyncio
async def test_deliveries_go_in_the_background_while_the_simulator_runs() -> None:
    got, transport = receiver_log()
    sim, clock = make(webhook_transport=transport)
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with sim.running(), client(sim, clock) as c:
        await c.smarther.subscribe(plant, HOOK)
        await c.smarther.set_status(plant, module, SetStatus.manual(21))
        for _ in range(20):
            if got:
                break
            await anyio.lowlevel.checkpoint()
        assert len(got) == 1  # delivered without anyone waiting for it
        await c.smarther.set_status(plant, module, SetStatus.off())
        assert await sim.delivered() == [(HOOK, 200), (HOOK, 200)]
    assert sim.app.c2c.queue == []


def test_the_simulator_uses_no_asyncio_tasks() -> None:
    from pathlib import Path

    import legrand_async.simulator as package

    folder = Path(package.__file__).parent
    for source in folder.glob("*.py"):
        if source.name == "_cli.py":  # the command's signal handlers need the asyncio loop
            continue
        text = source.read_text()
        assert "import asyncio" not in text, source.name


def test_simulator_can_be_built_outside_an_event_loop() -> None:
    assert Simulator.fleet(plants=1).pushes.latency == 0


@pytest.mark.asyncio
async def test_serve_delivers_in_the_background() -> None:
    arrived = anyio.Event()

    def receive(request: httpx.Request) -> httpx.Response:
        arrived.set()
        return httpx.Response(200)

    sim = Simulator.fleet(plants=1, seed=0, webhook_transport=httpx.MockTransport(receive))
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    async with sim.serve(port=0) as base_url:
        async with sim.client(base_url=base_url, transport=None) as c:
            await c.smarther.subscribe(plant, HOOK)
            await c.smarther.set_status(plant, module, SetStatus.manual(21))
        with anyio.fail_after(5):
            await arrived.wait()  # nobody asked for it
        assert await sim.delivered() == [(HOOK, 200)]
