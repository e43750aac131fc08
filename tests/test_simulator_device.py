"""Changes at the device (``sim.device(...).set``), push controls (latency, drop rate, outage)
and the simulator's documented choices where the real cloud's behaviour is unknown.

All on a fake clock: a push latency moves the clock, it is never waited for.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from legrand_async import AuthError, LoadState, Mode, ModuleKind, SetStatus
from legrand_async._routes import route
from legrand_async.simulator import Simulator, _cli

from .conftest import FakeClock
from .test_simulator import HOOK, client, hc_module, make, raw


class Hook:
    """A webhook receiver in the process: each body with the clock's time when it arrived."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.got: list[tuple[datetime, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.got.append((self.clock.now(), json.loads(request.content)))
        return httpx.Response(200)


def hooked(**kwargs: Any) -> tuple[Simulator, FakeClock, Hook]:
    clock = FakeClock()
    hook = Hook(clock)
    sim = Simulator.fleet(
        plants=2, thermostats_per_plant=2, seed=0, clock=clock,
        webhook_transport=httpx.MockTransport(hook), **kwargs,
    )  # fmt: skip
    sim.plants[0].state.subscriptions["sid"] = HOOK
    return sim, clock, hook


def without_ids(events: Any) -> Any:
    return [{k: v for k, v in event.items() if k != "id"} for event in events]


# ------------------------------------------------------------------------------ the device


@pytest.mark.asyncio
async def test_a_setpoint_at_the_device_is_notified_exactly_like_one_set_through_the_api() -> None:
    by_api, api_clock, api_hook = hooked()
    at_wall, _, wall_hook = hooked()
    plant, module = by_api.plants[0], by_api.plants[0].module_ids[0]
    async with client(by_api, api_clock) as c:
        await c.smarther.set_status(plant, module, SetStatus.manual(22.5))
    at_wall.device(plant, module).set(setpoint=22.5)
    assert await by_api.delivered() == await at_wall.delivered() == [(HOOK, 200)]
    assert without_ids(api_hook.got[0][1]) == without_ids(wall_hook.got[0][1])
    room = at_wall.plants[0].thermostats[0]
    assert (room.mode, room.setpoint) == ("MANUAL", 22.5)


@pytest.mark.asyncio
async def test_a_boost_at_the_device_ends_and_its_end_is_notified() -> None:
    sim, clock, hook = hooked()
    plant, module = sim.plants[0], sim.plants[0].module_ids[1]
    before = sim.plants[0].thermostats[1].mode
    sim.device(plant, module).set(mode=Mode.BOOST, until=timedelta(minutes=30))
    async with client(sim, clock) as c:
        assert (await c.smarther.get_status(plant, module)).mode is Mode.BOOST
        clock.advance(30 * 60)
        assert (await c.smarther.get_status(plant, module)).mode.value.upper() == before
    await sim.delivered()
    modes = [body[0]["data"]["chronothermostats"][0]["mode"] for _, body in hook.got]
    assert modes == ["BOOST", before]


@pytest.mark.asyncio
async def test_a_measured_temperature_at_the_device_is_read_and_notified_until_released() -> None:
    sim, clock, hook = hooked()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    device = sim.device(plant, module)
    async with client(sim, clock) as c:
        device.set(temperature=12.34)
        measures = await c.smarther.get_measures(plant, module)
        assert measures.temperature == 12.3
        assert (await c.smarther.get_status(plant, module)).load_state is LoadState.ACTIVE
        device.release_temperature()
        assert (await c.smarther.get_measures(plant, module)).temperature != 12.3
    await sim.delivered()
    readings = [
        body[0]["data"]["chronothermostats"][0]["thermometer"]["measures"][0]["value"]
        for _, body in hook.got
    ]
    assert readings[0] == "12.3"
    assert len(readings) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"setpoint": 41},
        {"setpoint": 2.5},
        {"program": 12},
        {"mode": "bogus"},
        {"function": "drying"},
        {"mode": Mode.BOOST},
        {"mode": Mode.MANUAL, "until": timedelta(0)},
        {"mode": Mode.OFF, "until": datetime(2030, 1, 1)},
        {},
    ],
)
@pytest.mark.asyncio
async def test_a_bad_change_at_the_device_is_a_value_error_and_changes_nothing(
    change: dict[str, Any],
) -> None:
    sim, _, _ = hooked()
    room = sim.plants[0].thermostats[0]
    state = (room.function, room.mode, room.setpoint, room.program, room.until)
    with pytest.raises(ValueError, match=r"\w"):
        sim.device(sim.plants[0], room.id).set(**change)
    assert (room.function, room.mode, room.setpoint, room.program, room.until) == state
    assert await sim.delivered() == []


def test_an_unknown_device_is_a_key_error() -> None:
    sim, _, _ = hooked()
    with pytest.raises(KeyError):
        sim.device(sim.plants[0], sim.plants[1].module_ids[0])


@pytest.mark.asyncio
async def test_mode_program_and_function_at_the_device() -> None:
    sim, clock, _ = hooked()
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    sim.device(plant, module).set(mode="automatic", program=0, function="cooling")
    async with client(sim, clock) as c:
        status = await c.smarther.get_status(plant, module)
    assert (status.mode, status.programs, status.function.value) == (
        Mode.AUTOMATIC, [0], "cooling",
    )  # fmt: skip


# ------------------------------------------------------------------------------ push controls


@pytest.mark.asyncio
async def test_a_push_latency_delays_the_delivery_on_the_clock() -> None:
    sim, clock, hook = hooked()
    sim.pushes.latency = 2.5
    changed = clock.now()
    sim.device(sim.plants[0], sim.plants[0].module_ids[0]).set(setpoint=20)
    assert await sim.delivered() == [(HOOK, 200)]
    assert hook.got[0][0] == changed + timedelta(seconds=2.5)


@pytest.mark.asyncio
async def test_a_push_latency_in_the_background_while_running() -> None:
    sim, clock, hook = hooked()
    sim.pushes.latency = 4
    changed = clock.now()
    async with sim.running():
        sim.device(sim.plants[0], sim.plants[0].module_ids[0]).set(setpoint=20)
        assert await sim.delivered() == [(HOOK, 200)]
    assert hook.got[0][0] == changed + timedelta(seconds=4)


def drops(seed: int) -> list[int | str]:
    import anyio

    sim, _, _ = hooked()
    sim.pushes.rng.seed(seed)
    sim.pushes.drop_rate = 0.5
    for setpoint in range(15, 35):
        sim.device(sim.plants[0], sim.plants[0].module_ids[0]).set(setpoint=setpoint)
    return [outcome for _, outcome in anyio.run(sim.delivered)]


def test_a_drop_rate_loses_a_seeded_share_of_the_deliveries() -> None:
    first = drops(0)
    assert first == drops(0)  # the same seed, the same losses
    assert first != drops(1)
    assert set(first) == {200, "dropped"}
    assert 4 <= first.count("dropped") <= 16


def test_a_drop_rate_outside_0_1_is_refused() -> None:
    sim, _, _ = hooked()
    sim.pushes.drop_rate = 2
    with pytest.raises(ValueError, match="drop_rate"):
        sim.device(sim.plants[0], sim.plants[0].module_ids[0]).set(setpoint=20)


@pytest.mark.asyncio
async def test_deliveries_due_in_an_outage_are_lost() -> None:
    sim, clock, hook = hooked()
    start = clock.now() + timedelta(minutes=10)
    sim.pushes.outage(start, timedelta(minutes=5))
    device = sim.device(sim.plants[0], sim.plants[0].module_ids[0])
    outcomes = []
    for minute in range(20):
        device.set(setpoint=18 + minute / 10)
        outcomes.append((await sim.delivered())[-1][1])
        clock.advance(60)
    assert outcomes == [200] * 10 + ["outage"] * 5 + [200] * 5
    assert len(hook.got) == 15
    with pytest.raises(ValueError, match="ends after"):
        sim.pushes.outage(start, start)
    with pytest.raises(ValueError, match="aware"):
        sim.pushes.outage(datetime(2030, 1, 1), timedelta(minutes=1))


@pytest.mark.asyncio
async def test_push_controls_apply_to_sim_push_too() -> None:
    sim, _, hook = hooked()
    sim.pushes.drop_rate = 1.0
    assert await sim.push(sim.plants[0], [{"eventType": "x"}]) == [(HOOK, "dropped")]
    assert hook.got == []


# ------------------------------------------------------------------------------ choices


@pytest.mark.parametrize("reuse", [False, True])
@pytest.mark.asyncio
async def test_a_rotated_refresh_token_used_again(reuse: bool) -> None:
    sim, _ = make(reuse_refresh_tokens=reuse)
    app = sim.oauth_app()
    first = await sim.sign_in(app)
    second = await app.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    if reuse:
        assert await app.refresh(first.refresh_token)
    else:
        with pytest.raises(AuthError):
            await app.refresh(first.refresh_token)
    assert await app.refresh(second.refresh_token)


@pytest.mark.parametrize(
    ("zone", "offset"), [(None, 0), ("Europe/Rome", 1), (ZoneInfo("Asia/Tokyo"), 9)]
)
@pytest.mark.asyncio
async def test_the_zone_of_activation_times_without_offset(zone: Any, offset: int) -> None:
    sim, _ = make(**({} if zone is None else {"device_zone": zone}))
    plant, module = sim.plants[0], sim.plants[0].module_ids[0]
    body = {
        "function": "heating", "mode": "manual", "setPoint": {"value": "21", "unit": "C"},
        "activationTime": "2026-11-21T23:00:00",
    }  # fmt: skip
    async with raw(sim) as http:
        path = route("smarther", "set_status").render_path((plant, module))
        assert (await http.post(path, json=body)).status_code == 200
        status = (await http.get(path)).json()["chronothermostats"][0]
    until = sim.plants[0].thermostats[0].until
    assert until == datetime(2026, 11, 21, 23 - offset, tzinfo=UTC)
    assert status["activationTime"] == "2026-11-21T23:00:00"  # written back in the same zone


@pytest.mark.parametrize("form", [False, True])
@pytest.mark.asyncio
async def test_form_encoded_home_control_bodies(form: bool) -> None:
    sim, _ = make(hc_form_bodies=form)
    plant = sim.plants[0]
    plug = hc_module(plant, "plug")
    shutter = hc_module(plant, "automation")
    switch = route("home_control", "set_module_status")

    async with raw(sim) as http:
        on = await http.post(
            switch.render_path((plant.hc_id, ModuleKind.PLUG, plug)), data={"status": "on"}
        )
        level = await http.post(
            route("home_control", "set_automation_level").render_path((plant.hc_id, shutter)),
            data={"level": "40"},
        )
        as_json = await http.post(
            switch.render_path((plant.hc_id, ModuleKind.PLUG, plug)), json={"status": "off"}
        )
    assert (on.status_code, level.status_code) == ((200, 200) if form else (400, 400))
    assert as_json.status_code == 200  # JSON bodies work either way
    modules = {m.id: m for m in plant.state.all_hc_modules()}
    assert modules[shutter].level == (40 if form else 0)


def test_the_command_line_offers_the_choices() -> None:
    parser = argparse.ArgumentParser()
    _cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulator"])
    default = _cli.simulator_for(args)
    assert not default.app.oauth.reuse_refresh_tokens
    assert default.app.smarther.zone == UTC
    args = parser.parse_args(
        ["simulator", "--reuse-refresh-tokens", "--device-zone", "Europe/Rome", "--hc-form-bodies"]
    )
    chosen = _cli.simulator_for(args)
    assert chosen.app.oauth.reuse_refresh_tokens
    assert chosen.app.smarther.zone == ZoneInfo("Europe/Rome")
    with pytest.raises(SystemExit):
        parser.parse_args(["simulator", "--device-zone", "Nowhere/Atlantis"])
