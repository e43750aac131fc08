"""Picking the most recent of several timestamped readings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

__all__ = ["latest"]


class _Timed(Protocol):
    @property
    def timestamp(self) -> datetime | None: ...


T = TypeVar("T", bound=_Timed)


def latest(readings: Sequence[T]) -> T | None:
    """The reading with the newest timestamp; the last one when timestamps are missing or mixed."""
    if not readings:
        return None
    stamps = [r.timestamp for r in readings]
    if all(s is not None for s in stamps):
        try:
            return max(readings, key=lambda r: r.timestamp)  # type: ignore[arg-type,return-value]
        except TypeError:  # naive and aware timestamps mixed
            pass
    return readings[-1]
