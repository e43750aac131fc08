"""Smarther v2.0: the generated operations plus the composite ones built from them."""

from __future__ import annotations

import httpx

from ._endpoints.smarther import SmartherAPI
from ._routing import uuid_id
from .errors import Conflict
from .models.smarther import CLOUD_PLANT_PREFIX, Subscription, SubscriptionRequest

__all__ = ["Smarther"]


def _plant_key(plant_id: str) -> str:
    """Plant ids as lists may send them: any case, with or without ``bs_cloud_``."""
    return plant_id.lower().removeprefix(CLOUD_PLANT_PREFIX)


def _url_key(url: str) -> object:
    """A URL up to what does not change where it points: case, default port, a final ``/``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    port = parsed.port or {"https": 443, "http": 80}.get(parsed.scheme)
    return parsed.scheme, parsed.host, port, parsed.raw_path.rstrip(b"/") or b"/"


class Smarther(SmartherAPI):
    """Smarther v2.0 (BTicino X8000 chronothermostat), ``/smarther/v2.0``."""

    __slots__ = ()

    async def ensure_subscription(self, plant_id: str, endpoint_url: str) -> str:
        """The id of a subscription of ``endpoint_url`` to the plant, creating it if needed.

        Idempotent: a subscription for the same plant and URL is reused; when subscribing
        answers 409 anyway (a stale subscription the list did not show), the plant's
        subscriptions of that URL are removed and the URL subscribed again. https only.
        """
        SubscriptionRequest(endpoint_url)  # https only: checked before any request
        uuid_id("plant_id", plant_id)
        plant, url = _plant_key(plant_id), _url_key(endpoint_url)

        def ours(sub: Subscription, *, any_plant: bool = False) -> bool:
            same_plant = _plant_key(sub.plant_id) == plant or (any_plant and not sub.plant_id)
            return same_plant and _url_key(sub.endpoint_url) == url

        for sub in await self.list_subscriptions():
            if ours(sub):
                return sub.subscription_id
        try:
            return await self.subscribe(plant_id, endpoint_url)
        except Conflict:
            for sub in await self.list_subscriptions():
                if ours(sub, any_plant=True):
                    await self.unsubscribe(plant_id, sub.subscription_id)
            return await self.subscribe(plant_id, endpoint_url)
