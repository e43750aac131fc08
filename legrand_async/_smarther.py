"""Smarther v2.0: the generated operations plus the composite ones built from them."""

from __future__ import annotations

from ._endpoints.smarther import SmartherAPI
from ._routing import uuid_id
from .errors import Conflict
from .models.smarther import SubscriptionRequest

__all__ = ["Smarther"]


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
        for sub in await self.list_subscriptions():
            if sub.plant_id == plant_id and sub.endpoint_url == endpoint_url:
                return sub.subscription_id
        try:
            return await self.subscribe(plant_id, endpoint_url)
        except Conflict:
            for sub in await self.list_subscriptions():
                if sub.endpoint_url == endpoint_url and sub.plant_id in (plant_id, ""):
                    await self.unsubscribe(sub.plant_id, sub.subscription_id)
            return await self.subscribe(plant_id, endpoint_url)
