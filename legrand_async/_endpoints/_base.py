"""What every family class is: a holder of the client core's ``call``, nothing else."""

from __future__ import annotations

from .._routing import Call

__all__ = ["FamilyBase"]


class FamilyBase:
    """The base of every family class (generated ones and their hand-written ``*_extra`` bases).

    ``self._call(route, path_args, body)`` runs a route through the client core.
    """

    __slots__ = ("_call",)

    def __init__(self, call: Call) -> None:
        self._call = call
