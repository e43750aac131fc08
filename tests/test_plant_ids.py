"""One plant-id normaliser (``_plants``) for ensure_subscription, the poller and webhook events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from legrand_async._plants import plant_id, plant_key, without_cloud_prefix
from legrand_async._poller._discovery import plant_id as discovered_plant_id
from legrand_async._routes import ROUTES
from legrand_async._routing import uuid_id
from legrand_async.simulator import Simulator

from .conftest import PLANT

URL = "https://example.org/hook/s3cret-0123456789abcdef"


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (PLANT, PLANT),
        (PLANT.upper(), PLANT.upper()),  # the case as given: the server compares ids as it likes
        ("bs_cloud_" + PLANT, PLANT),
        ("BS_CLOUD_" + PLANT.upper(), PLANT.upper()),
        ("Bs_Cloud_" + PLANT, PLANT),
        (uuid.UUID(PLANT), PLANT),  # a UUID object: its (lowercase) text
    ],
)
def test_every_spelling_of_a_plant_id_gives_the_id_to_send(given: object, sent: str) -> None:
    assert plant_id(given) == sent
    assert discovered_plant_id(given) == sent  # discovery takes the same ids
    assert plant_key(plant_id(given)) == PLANT  # and they all name one plant


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ("bs_cloud_bs_cloud_" + PLANT, ValueError),  # the prefix is dropped once
        ("bs_cloud_", ValueError),
        ("not-a-uuid", ValueError),
        (PLANT + "/x", ValueError),
        (None, TypeError),
        (42, TypeError),
        (PLANT.encode(), TypeError),
    ],
)
def test_what_cannot_be_a_plant_is_refused(given: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="plant_id"):
        plant_id(given)


def test_the_prefix_only_goes_and_the_rest_stays_as_sent() -> None:
    assert without_cloud_prefix("BS_CLOUD_plant-1") == "plant-1"  # webhook events: not checked
    assert without_cloud_prefix("plant-bs_cloud_1") == "plant-bs_cloud_1"
    assert plant_key("BS_CLOUD_ABC") == "abc"


def test_the_normaliser_agrees_with_every_smarther_route() -> None:
    smarther = [r for r in ROUTES if r.family == "smarther"]
    checks = {p.check for r in smarther for p in r.params if p.name == "plant_id"}
    assert checks == {uuid_id}


@pytest.mark.asyncio
async def test_ensure_subscription_takes_a_uuid_object_like_the_poller(clock: Any) -> None:
    sim = Simulator.fleet(plants=1, seed=0, clock=clock)
    plant = sim.plants[0].id
    async with sim.client() as client:
        sid = await client.smarther.ensure_subscription(uuid.UUID(plant), URL)  # type: ignore[arg-type]
        assert await client.smarther.ensure_subscription(f"BS_CLOUD_{plant.upper()}", URL) == sid
        poller = client.poll_thermostats([(uuid.UUID(plant), sim.plants[0].thermostats[0].id)])
        assert poller.targets[0][0] == plant
        listed = await client.smarther.list_subscriptions()
    assert [s.subscription_id for s in listed] == [sid]
