"""What acknowledging a delivery needs from its body, read without building the body.

:meth:`AckReader.read` gives, for each event in a body, its kind and its id (for a validation
event its code), or None when the body is not an Event Grid delivery (not JSON, not an array or
object of event objects). The consumer reads the events into models later, from the bytes.

With pysimdjson (the "webhooks" extra) the body is checked in C and only the few fields the
answer needs become Python objects: about a quarter of what parsing it whole with orjson costs,
which is most of what the receiver adds to its server's work. A body pysimdjson refuses (NaN,
integers past 64 bits, UTF-16, nesting past 1024) is read whole instead, so the answer does not
depend on which reader ran; an event object that repeats a key (which RFC 8259 says receivers
may read differently) is acknowledged by its first value with pysimdjson, its last without.
"""

from __future__ import annotations

from typing import Any, Final

from ._notifications import EVENT_KEYS, is_validation_type, load, loads_data
from .errors import ResponseValidationError

__all__ = ["OTHER", "THERMOSTAT", "VALIDATION", "AckReader", "Found", "code_of"]

#: The kinds of event: a validation handshake (its code, if any, is given instead of its id),
#: a thermostat notification, anything else.
VALIDATION: Final = 0
THERMOSTAT: Final = 1
OTHER: Final = 2

Found = list[tuple[int, str | None]]


def code_of(found: Found) -> str | None:
    """The code of the first validation event that has one (what the answer must carry)."""
    for kind, value in found:
        if kind == VALIDATION and value is not None:
            return value
    return None


def _simdjson() -> tuple[Any, type, type] | None:
    try:
        import simdjson
    except ImportError:  # pragma: no cover - the whole-body reader gives the same answers
        return None
    return simdjson.Parser, simdjson.Object, simdjson.Array


_SIMDJSON = _simdjson()
_OBJECTS: Final[tuple[type, ...]] = (dict,) if _SIMDJSON is None else (dict, _SIMDJSON[1])


def _field(item: Any, key: str, default: Any = None) -> Any:
    """``item[key]``, else ``default``: ``in`` first, as a missing key costs pysimdjson an
    exception inside (``.get`` too)."""
    return item[key] if key in item else default  # noqa: SIM401


def _kind(item: Any) -> tuple[int, str | None] | None:
    """``item``'s kind and id (or code), None when it is not an event object."""
    if not ("id" in item or any(key in item for key in EVENT_KEYS)):
        return None
    kind = _field(item, "eventType") if "eventType" in item else _field(item, "type")
    if type(kind) is str and is_validation_type(kind):
        data = _field(item, "data")
        code = _field(data, "validationCode") if type(data) in _OBJECTS else None
        return VALIDATION, code if type(code) is str and code else None
    event_id = _field(item, "id")
    event_id = event_id if type(event_id) is str else None
    payload = _field(item, "data", item)
    if type(payload) is str:  # data sent as JSON text
        try:
            payload = loads_data(payload)
        except ResponseValidationError:
            return OTHER, event_id  # read_event names the problem
    thermostat = type(payload) in _OBJECTS and "chronothermostats" in payload
    return (THERMOSTAT if thermostat else OTHER), event_id


def _found(items: Any, single: bool, object_type: type) -> Found | None:
    """The kinds of ``items``; None when one is not an event object."""
    found: Found = []
    for item in (items,) if single else items:
        if type(item) is not object_type:
            return None
        kind = _kind(item)
        if kind is None:
            return None
        found.append(kind)
    return found


class AckReader:
    """Reads bodies for the acknowledgement; one per receiver (its parser is reused)."""

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser = None if _SIMDJSON is None else _SIMDJSON[0]()

    def read(self, body: bytes) -> Found | None:
        """Per event of ``body``: (kind, id or validation code); None when it is not a
        delivery."""
        if self._parser is not None and _SIMDJSON is not None:
            try:
                return self._cheaply(body, _SIMDJSON[1], _SIMDJSON[2])
            except Exception:
                self._parser = _SIMDJSON[0]()  # never left holding a document
        try:
            data = load(body)
        except ResponseValidationError:
            return None
        return _found(data, type(data) is not list, dict)

    def _cheaply(self, body: bytes, object_type: type, array_type: type) -> Found | None:
        document = self._parser.parse(body)  # type: ignore[union-attr]
        kind = type(document)
        if kind is not array_type and kind is not object_type:
            return None
        return _found(document, kind is object_type, object_type)
