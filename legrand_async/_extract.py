"""How a route's 2xx answer becomes its result: one typed extraction step, chosen in the table.

``Route.extract`` is an :class:`Extract` (the JSON value at a path, structured into a model) or
a :class:`FirstItem` (the same, of which the caller gets the first item); None means no body is
read. The client core hands it the parsed document (None for a 204 or an empty body) and
reports what it raises with the response's status, scrubbed of the request's secrets.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import attrs

from ._converters import structure
from .errors import ResponseValidationError

__all__ = ["Extract", "FirstItem"]


def _misfit(error: str) -> ResponseValidationError:
    return ResponseValidationError("the response does not fit the model", errors=[error])


@attrs.frozen(slots=True)
class Extract:
    """Structure the value at ``at`` (keys and list indexes from the document down) into ``model``.

    ``empty`` makes the result of an answer without a body (204, nothing, ``null``) or with a
    ``null`` at ``at``, when the API uses those for "nothing" (``list``); without it an answer
    without a body is a :class:`ResponseValidationError`.
    """

    model: Any
    at: tuple[str | int, ...] = ()
    empty: Callable[[], Any] | None = None

    @property
    def returns(self) -> Any:
        """The type of the result (what the generated coroutine is annotated to return)."""
        return self.model

    def into(self, model: Any) -> typing.Self:
        """The same step, structuring into ``model`` (``list[Any]`` reads the items as sent)."""
        return attrs.evolve(self, model=model)

    def __call__(self, data: Any) -> Any:
        """The result for the parsed document ``data`` (None: the answer has no body)."""
        empty = self.empty
        if data is None:
            if empty is not None:
                return empty()
            raise ResponseValidationError("the response body is empty")
        where = "$"
        for step in self.at:
            where += f"[{step}]" if isinstance(step, int) else f".{step}"
            try:
                data = data[step]
            except (KeyError, IndexError, TypeError):
                raise _misfit(f"required value missing @ {where}") from None
        if data is None and empty is not None:
            return empty()
        return structure(data, self.model)


@attrs.frozen(slots=True)
class FirstItem(Extract):
    """An :class:`Extract` into a list (``model``, a list type or a NewType of one) of which the
    caller gets the first item; an empty list is a :class:`ResponseValidationError`."""

    @property
    def returns(self) -> Any:
        listed = getattr(self.model, "__supertype__", self.model)  # NewType of a list
        return typing.get_args(listed)[0]

    def __call__(self, data: Any) -> Any:
        result = super().__call__(data)
        if not result:
            raise _misfit("empty list @ $")
        return result[0]
