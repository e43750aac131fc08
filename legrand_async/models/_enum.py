"""Enums that survive firmware news: any case is accepted, unknown values become UNKNOWN."""

from __future__ import annotations

import enum
from typing import Self

__all__ = ["LenientEnum"]


class LenientEnum(enum.StrEnum):
    """A string enum with lowercase values; subclasses define an ``UNKNOWN = "unknown"`` member."""

    @classmethod
    def _missing_(cls, value: object) -> Self:
        if isinstance(value, str):
            folded = value.strip().lower()
            for member in cls:
                if member.value == folded:
                    return member
        return cls("unknown")
