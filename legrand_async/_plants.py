"""Plant ids as the cloud spells them: the one place that knows the ``bs_cloud_`` prefix.

C2C notifications (and some listings) put ``bs_cloud_`` (in any letter case) before a plant's
UUID. Every place that takes or reads a plant id goes through these: ``ensure_subscription``,
the poller's targets and discovery, the webhook events.
"""

from __future__ import annotations

import uuid

from ._routing import uuid_id

__all__ = ["CLOUD_PLANT_PREFIX", "plant_id", "plant_key", "without_cloud_prefix"]

#: The prefix C2C notifications (and some listings) put before a plant id.
CLOUD_PLANT_PREFIX = "bs_cloud_"


def without_cloud_prefix(plant_id: str) -> str:
    """``plant_id`` without the ``bs_cloud_`` prefix (in any letter case) the cloud may add;
    the rest as sent (its case kept)."""
    if plant_id[: len(CLOUD_PLANT_PREFIX)].lower() == CLOUD_PLANT_PREFIX:
        return plant_id[len(CLOUD_PLANT_PREFIX) :]
    return plant_id


def plant_id(value: object) -> str:
    """The Smarther plant id to send for ``value``: a ``str`` with or without ``bs_cloud_``, or
    a ``uuid.UUID`` (as its lowercase form); then a UUID, else ValueError (TypeError for
    anything else)."""
    if isinstance(value, uuid.UUID):
        value = str(value)
    elif isinstance(value, str):
        value = without_cloud_prefix(value)
    return uuid_id("plant_id", value)


def plant_key(plant_id: str) -> str:
    """What two spellings of one plant id share (to compare them): no prefix, lowercase."""
    return without_cloud_prefix(plant_id).lower()
