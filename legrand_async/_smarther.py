"""Smarther v2.0: the generated operations plus the composite ones built from them."""

from __future__ import annotations

import attrs
import httpx

from ._endpoints.smarther import SmartherAPI
from ._routes import route
from ._routing import Call, PathParam, opaque_id, uuid_id
from ._single_flight import SingleFlight
from .errors import Conflict
from .models.smarther import CLOUD_PLANT_PREFIX, Subscription, SubscriptionRequest

__all__ = ["Smarther"]

_UNSUBSCRIBE = route("smarther", "unsubscribe")
#: Deleting a subscription the server listed: its id is the server's, sent as given (encoded).
_UNSUBSCRIBE_LISTED = attrs.evolve(
    _UNSUBSCRIBE, params=(_UNSUBSCRIBE.params[0], PathParam("subscription_id", opaque_id))
)


def _plant_key(plant_id: str) -> str:
    """Plant ids as lists may send them: any case, with or without ``bs_cloud_``."""
    key = plant_id.lower()
    return key[len(CLOUD_PLANT_PREFIX) :] if key.startswith(CLOUD_PLANT_PREFIX) else key


def _plant_arg(plant_id: object) -> str:
    """The plant's UUID, also when given as the server may list it (``bs_cloud_<uuid>``)."""
    if isinstance(plant_id, str) and plant_id.lower().startswith(CLOUD_PLANT_PREFIX):
        plant_id = plant_id[len(CLOUD_PLANT_PREFIX) :]
    return uuid_id("plant_id", plant_id)


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

    __slots__ = ("_subscribing",)

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self._subscribing: SingleFlight[str] = SingleFlight()

    async def ensure_subscription(self, plant_id: str, endpoint_url: str) -> str:
        """The id of a subscription of ``endpoint_url`` to the plant, creating it if needed.

        Idempotent: a subscription for the same plant and URL is reused, and concurrent calls
        for the same plant and URL share one run (one live id). When subscribing answers 409
        and the list still does not show the subscription (a stale one), the plant's
        subscriptions of that URL listed without a plant are removed and the URL subscribed
        again. https only; ``plant_id`` may carry the ``bs_cloud_`` prefix.
        """
        SubscriptionRequest(endpoint_url)  # https only: checked before any request
        plant = _plant_arg(plant_id)
        key = (_plant_key(plant), _url_key(endpoint_url))
        return await self._subscribing.run(key, lambda: self._ensure(plant, endpoint_url))

    async def _ensure(self, plant_id: str, endpoint_url: str) -> str:
        plant, url = _plant_key(plant_id), _url_key(endpoint_url)

        def ours(sub: Subscription) -> bool:
            return _plant_key(sub.plant_id) == plant and _url_key(sub.endpoint_url) == url

        for sub in await self.list_subscriptions():
            if ours(sub):
                return sub.subscription_id
        try:
            return await self.subscribe(plant_id, endpoint_url)
        except Conflict:
            listed = await self.list_subscriptions()
        for sub in listed:
            if ours(sub):  # made meanwhile (by another client): it is live, keep it
                return sub.subscription_id
        for sub in listed:
            if not sub.plant_id and _url_key(sub.endpoint_url) == url:
                await self._call(_UNSUBSCRIBE_LISTED, (plant_id, sub.subscription_id), None)
        return await self.subscribe(plant_id, endpoint_url)
