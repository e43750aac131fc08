"""What a route is: the declarative description the endpoint coroutines are generated from."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import attrs

from ._extract import Extract
from ._secrets import refuse_unsafe_characters

__all__ = [
    "MAX_ID_LENGTH",
    "Call",
    "Family",
    "PathParam",
    "Route",
    "one_of",
    "opaque_id",
    "uuid_id",
]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: The longest opaque id accepted (the cloud's ids are a few dozen characters).
MAX_ID_LENGTH = 256


def uuid_id(name: str, value: object) -> str:
    """A UUID path value (``8-4-4-4-12`` hex digits), or ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not _UUID.fullmatch(value):
        raise ValueError(f"{name} must be a UUID like 'b5e48d6f-cbad-2711-e053-27182d0ad74c'")
    return value


def one_of(*choices: str) -> Callable[[str, object], str]:
    """A check accepting exactly one of ``choices``."""

    def check(name: str, value: object) -> str:
        if value not in choices:
            allowed = ", ".join(map(repr, choices))
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        return str(value)

    return check


def opaque_id(name: str, value: object) -> str:
    """A non-empty opaque path value of at most 256 characters (percent-encoded when sent).

    What no id holds is refused by the one character rule
    (:func:`~legrand_async._secrets.refuse_unsafe_characters`): control characters, invisible
    formatting (bidi overrides, zero width), line and paragraph separators, lone surrogates
    (no UTF-8 form), private-use and unassigned code points.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name} must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    refuse_unsafe_characters(name, value, header=False)
    if value in (".", ".."):  # dot segments would be resolved away and reach another path
        raise ValueError(f"{name} must not be {value!r}")
    return value


@attrs.frozen
class PathParam:
    """A path parameter: the argument name (also the ``{placeholder}``) and its check."""

    name: str
    check: Callable[[str, object], str] = uuid_id
    annotation: str = "str"
    quoted: bool = True  # False for segments from a fixed table that contain "/"


@attrs.frozen
class Family:
    """An API family: one generated class, reached as ``client.<name>``.

    Everything else follows from ``name``: the models (``legrand_async/models/<name>.py``), the
    generated module (``_endpoints/<name>.py``), its class (``SmartherAPI`` for ``smarther``) and
    the optional hand-written base with the family's composite operations
    (``_endpoints/<name>_extra.py``, see ``scripts/generate_endpoints.py``).
    """

    name: str
    doc: str

    @property
    def attribute(self) -> str:
        """The client's attribute: ``client.<name>``."""
        return self.name

    @property
    def class_name(self) -> str:
        """The generated class: ``HomeControlAPI`` for ``home_control``."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "API"

    @property
    def models(self) -> str:
        """The module of the family's models."""
        return f"legrand_async.models.{self.name}"


@attrs.frozen(cache_hash=True)
class Route:
    """One operation of the API.

    - ``params`` are the path parameters, in argument order;
    - ``body`` is the request body's attrs class: the caller passes it as ``body_arg`` when that is
      set, otherwise the body's fields without a default are the coroutine's arguments;
    - ``extract`` turns a 2xx answer into the result (:mod:`legrand_async._extract`: where the
      value is, its model, what "nothing" gives); None means no body is read;
    - ``idempotent`` lets read timeouts and dropped connections be retried.
    """

    family: str
    name: str
    method: str
    path: str
    summary: str
    idempotent: bool
    params: tuple[PathParam, ...] = ()
    body: type | None = None
    body_arg: str | None = None
    extract: Extract | None = None
    scopes: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        placeholders = _PLACEHOLDER.findall(self.path)
        if sorted(placeholders) != sorted(p.name for p in self.params):
            raise ValueError(f"{self.name}: path placeholders {placeholders} != params")

    @property
    def response(self) -> Any:
        """The model the answer is structured into (None: no body is read)."""
        return self.extract.model if self.extract is not None else None

    def reading(self, model: Any) -> Route:
        """This route with its answer (found as the table says) structured into ``model``."""
        if self.extract is None:
            raise ValueError(f"{self.name} reads no answer")
        return attrs.evolve(self, extract=self.extract.into(model))

    def render_path(self, args: Sequence[object]) -> str:
        """The request path with every argument checked and percent-encoded."""
        values = {}
        for param, value in zip(self.params, args, strict=True):
            segment = param.check(param.name, value)
            values[param.name] = quote(segment, safe="") if param.quoted else segment
        return self.path.format_map(values)


#: How generated endpoints reach the client core: ``await call(route, path_args, body)``.
Call = Callable[[Route, tuple[object, ...], object], Awaitable[Any]]
