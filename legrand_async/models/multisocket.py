"""Multisocket models: sockets (and Wi-Fi sockets) addressed by id, name or type."""

from __future__ import annotations

import attrs

__all__ = ["SocketPlug", "SocketStatus"]


@attrs.frozen
class SocketPlug:
    """A socket; ``status`` holds one boolean per outlet, as the API sends it."""

    id: str
    name: str | None = None
    status: list[bool] = attrs.field(factory=list)

    @property
    def is_on(self) -> bool:
        """Whether any outlet is on."""
        return any(self.status)


def _bools(value: bool | list[bool]) -> list[bool]:
    values = [value] if isinstance(value, bool) else value
    if not isinstance(values, list | tuple) or not values:
        raise ValueError("status must be a bool or a non-empty list of bools")
    if not all(isinstance(v, bool) for v in values):
        raise TypeError("status must be a bool or a list of bools")
    return list(values)


@attrs.frozen
class SocketStatus:
    """Body of SetPlugStatus: ``{"status": [true]}``."""

    status: list[bool] = attrs.field(converter=_bools)
