"""The poller's targets, checked before any request (numbers are :mod:`legrand_async._checks`')."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, TypeVar

__all__ = ["targets"]

T = TypeVar("T", bound=Hashable)


def targets(value: Iterable[T] | Any) -> list[T]:
    """The targets, once each in their order; TypeError for what is not a collection of them."""
    if value is None:
        raise TypeError("targets is required")
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"targets must be an iterable of targets, got {type(value).__name__}")
    try:
        unique = list(dict.fromkeys(value))
    except TypeError as exc:
        raise TypeError(f"every target must be hashable: {exc}") from None
    if not unique:
        raise ValueError("targets is empty: there is nothing to poll")
    return unique
