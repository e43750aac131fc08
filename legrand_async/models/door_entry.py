"""Video door entry (Classe 100X16E, Easy Kit Connected) models: the "call home" ticket."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import attrs

__all__ = ["CallHomeTicket", "TicketPlant", "TicketSender"]


@attrs.frozen
class TicketPlant:
    """``{"id": ...}`` of the plant a ticket is for."""

    id: str


@attrs.frozen
class TicketSender:
    """Who issued a ticket (``addressLocation``, ``videodoorentry``)."""

    plant: TicketPlant | None = None
    address_type: str | None = None
    system: str | None = None


@attrs.frozen
class CallHomeTicket:
    """A JWT ticket for Legrand's Door Entry SDK to call home (the API streams nothing itself)."""

    ticket: str
    sender: TicketSender | None = None

    @property
    def plant_id(self) -> str | None:
        """The plant the ticket is for."""
        plant = self.sender.plant if self.sender is not None else None
        return plant.id if plant is not None else None

    @property
    def expires_at(self) -> datetime | None:
        """When the ticket expires (the JWT's ``exp``, aware UTC), or None when unreadable."""
        parts = self.ticket.split(".")
        if len(parts) != 3:
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            exp = payload["exp"]
            if isinstance(exp, bool) or not isinstance(exp, int | float):
                return None
            return datetime.fromtimestamp(exp, UTC)
        except (ValueError, TypeError, KeyError, OverflowError, OSError):
            return None
