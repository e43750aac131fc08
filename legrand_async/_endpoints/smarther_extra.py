"""Smarther v2.0: the hand-written composite operations, the base of the generated class.

``SmartherAPI`` (generated in ``smarther.py``) inherits :class:`SmartherExtra`; composite
operations run routes through ``self._call`` like the generated ones (see
``scripts/generate_endpoints.py`` for the pattern every family can follow).
"""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import httpx

from .._converters import structure
from .._plants import plant_id as checked_plant_id
from .._plants import plant_key
from .._routes import route
from .._routing import Call, PathParam, opaque_id
from .._single_flight import SingleFlight
from ..errors import Conflict, NotFound, ResponseValidationError
from ..models.smarther import Subscription, SubscriptionRequest
from ._base import FamilyBase

__all__ = ["SmartherExtra"]

_SUBSCRIBE = route("smarther", "subscribe")
_UNSUBSCRIBE = route("smarther", "unsubscribe")
#: Deleting a subscription the server listed: its id is the server's, sent as given (encoded).
_UNSUBSCRIBE_LISTED = attrs.evolve(
    _UNSUBSCRIBE, params=(_UNSUBSCRIBE.params[0], PathParam("subscription_id", opaque_id))
)
#: The subscription list as sent, read item by item (see :func:`_listed`).
_LIST_AS_SENT = route("smarther", "list_subscriptions").reading(list[Any])


def _listed(item: object) -> Subscription | None:
    """A listed item as a subscription ``ensure_subscription`` can return or remove, else None.

    The server's list may hold anything: an item without a subscription id and URL, or with an
    id no path can carry, is skipped; one without ``plantId`` is listed without a plant.
    """
    if not isinstance(item, dict):
        return None
    if item.get("plantId") is None:
        item = {**item, "plantId": ""}
    try:
        sub: Subscription = structure(item, Subscription)
        opaque_id("subscription_id", sub.subscription_id)
    except (ResponseValidationError, ValueError, TypeError):
        return None
    return sub


def _url_key(url: str) -> object:
    """A URL up to what does not change where it points: case, default port, a final ``/``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    port = parsed.port or {"https": 443, "http": 80}.get(parsed.scheme)
    return parsed.scheme, parsed.host, port, parsed.raw_path.rstrip(b"/") or b"/"


class SmartherExtra(FamilyBase):
    """The composite Smarther operations, built from the routes."""

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
        plant = checked_plant_id(plant_id)
        key = (plant_key(plant), _url_key(endpoint_url))
        return await self._subscribing.run(key, lambda: self._ensure(plant, endpoint_url))

    async def _ensure(self, plant_id: str, endpoint_url: str) -> str:
        plant, url = plant_key(plant_id), _url_key(endpoint_url)

        def ours(sub: Subscription) -> bool:
            return plant_key(sub.plant_id) == plant and _url_key(sub.endpoint_url) == url

        for sub in await self._list():
            if ours(sub):
                return sub.subscription_id
        try:
            return await self._subscribe(plant_id, endpoint_url)
        except Conflict:
            listed = await self._list()
        for sub in listed:
            if ours(sub):  # made meanwhile (by another client): it is live, keep it
                return sub.subscription_id
        for sub in listed:
            if not sub.plant_id and _url_key(sub.endpoint_url) == url:
                with contextlib.suppress(NotFound):  # removed meanwhile (by another client)
                    await self._call(_UNSUBSCRIBE_LISTED, (plant_id, sub.subscription_id), None)
        return await self._subscribe(plant_id, endpoint_url)

    async def _subscribe(self, plant_id: str, endpoint_url: str) -> str:
        """``subscribe``, as the generated coroutine sends it."""
        sid: str = await self._call(_SUBSCRIBE, (plant_id,), SubscriptionRequest(endpoint_url))
        return sid

    async def _list(self) -> list[Subscription]:
        """The subscriptions listed, without the items that are none (:func:`_listed`)."""
        items = await self._call(_LIST_AS_SENT, (), None)
        return [sub for sub in map(_listed, items) if sub is not None]
