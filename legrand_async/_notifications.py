"""What a C2C delivery holds: thermostat events, other events, the validation code.

The receiver acknowledges with the cheap half (``_ack.py`` reads each event's kind and id with
the rules here: :data:`EVENT_KEYS`, :func:`is_validation_type`) and reads events into models with
the other half (:func:`event_items`, :func:`read_event`) only when the consumer takes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import attrs

from ._converters import structure
from ._json import NotJSON, loads
from ._plants import without_cloud_prefix
from .errors import ResponseValidationError
from .models.smarther import ChronothermostatStatus

__all__ = [
    "EVENT_KEYS",
    "OtherEvent",
    "ThermostatEvent",
    "WebhookEvent",
    "event_items",
    "is_validation",
    "is_validation_type",
    "load",
    "loads_data",
    "other_event",
    "parse_notification",
    "read_event",
    "validation_code",
]

VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"
#: An object is an Event Grid (or CloudEvents) event when it has one of these keys; the last one
#: is the envelope-less shape some clients expect (``{"chronothermostats": [...]}``).
EVENT_KEYS = frozenset({"id", "eventType", "type", "data", "chronothermostats"})


@attrs.frozen
class ThermostatEvent:
    """One thermostat's new status, pushed by Legrand."""

    plant_id: str | None
    module_id: str | None
    status: ChronothermostatStatus
    event_time: datetime | None = None
    event_id: str | None = None


@attrs.frozen
class OtherEvent:
    """A delivered event that is not a thermostat status, as it came.

    Event Grid's own events (``Microsoft.EventGrid.SubscriptionDeletedEvent``), Home + Control
    events, unknown ``eventType`` values, and thermostat notifications that do not fit the
    model (then ``problem`` says why, with the path inside ``raw``). ``raw`` is the event
    object as parsed from the body; the other fields are read from it leniently (None when
    absent or malformed).
    """

    event_type: str | None
    event_id: str | None
    event_time: datetime | None
    plant_id: str | None
    module_id: str | None
    raw: dict[str, Any]
    problem: str | None = None

    @property
    def data(self) -> Any:
        """The event's ``data`` (None when it has none)."""
        return self.raw.get("data")


#: What :meth:`WebhookReceiver.events` yields and :func:`parse_notification` returns.
WebhookEvent: TypeAlias = ThermostatEvent | OtherEvent


def _invalid(path: str, problem: str) -> ResponseValidationError:
    return ResponseValidationError("the notification does not fit", errors=[f"{problem} @ {path}"])


def _text(text: str | bytes, where: str) -> Any:
    """The JSON value of ``text`` (any JSON: also NaN, integers of any length, a byte order
    mark); ResponseValidationError at ``where`` when it is not JSON."""
    try:
        return loads(text, lenient=True)
    except NotJSON as exc:
        problem = "not UTF-8" if exc.reason == "not UTF-8 text" else "not JSON"
        raise _invalid(where, problem) from None


def load(body: bytes | str | Any) -> Any:
    """The JSON value of ``body`` (bytes or text; anything else is taken as parsed already).

    Any JSON is read: also NaN, integers of any length and a leading byte order mark.
    """
    if isinstance(body, bytearray | memoryview):
        body = bytes(body)
    return _text(body, "$") if isinstance(body, str | bytes) else body


def event_items(data: Any) -> list[dict[str, Any]]:
    """The event objects of a delivery: a JSON array of events or a single event object.

    Raises ResponseValidationError naming the first item that is not an event object.
    """
    items = data if type(data) is list else [data]
    for i, item in enumerate(items):
        if type(item) is not dict or EVENT_KEYS.isdisjoint(item):
            where = f"$[{i}]" if type(data) is list else "$"
            raise _invalid(where, "not an Event Grid event object")
    return items


def _event_type(item: dict[str, Any]) -> str | None:
    """``eventType`` (Event Grid schema) or ``type`` (CloudEvents), as sent."""
    value = item.get("eventType", item.get("type"))
    return value if isinstance(value, str) else None


def is_validation_type(kind: str) -> bool:
    """Whether ``kind`` (an ``eventType``) is Event Grid's subscription validation event."""
    return len(kind) == len(VALIDATION_EVENT) and kind.lower() == VALIDATION_EVENT


def is_validation(item: dict[str, Any]) -> bool:
    """Whether ``item`` is Event Grid's subscription validation event."""
    kind = _event_type(item)
    return kind is not None and is_validation_type(kind)


def _code(item: dict[str, Any]) -> str | None:
    data = item.get("data")
    code = data.get("validationCode") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code else None


def validation_code(body: bytes | str | Any) -> str | None:
    """The code of an Event Grid subscription validation event in ``body``, if it is one."""
    data = load(body)
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and is_validation(item) and (code := _code(item)):
            return code
    return None


def loads_data(text: str) -> Any:
    """The JSON value of an event's ``data`` sent as JSON text (ResponseValidationError if not)."""
    return _text(text, "$")


def _plant_id(item: dict[str, Any]) -> str | None:
    elements = item.get("subjectElements")
    candidate = elements.get("plantId") if isinstance(elements, dict) else None
    if not isinstance(candidate, str):
        subject = item.get("subject")
        parts = [p for p in subject.split("/") if p] if isinstance(subject, str) else []
        candidate = parts[0] if parts else None
    return _strip(candidate) if isinstance(candidate, str) else None


def _strip(plant_id: str | None) -> str | None:
    return without_cloud_prefix(plant_id) if plant_id else None


def _time(value: Any, path: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(path, "not a date-time")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(path, "not a date-time") from None


def _time_key(item: dict[str, Any]) -> str:
    return "eventTime" if "eventTime" in item else "time"  # Event Grid or CloudEvents


def _id(item: dict[str, Any]) -> str | None:
    event_id = item.get("id")
    return event_id if isinstance(event_id, str) else None


def other_event(item: dict[str, Any], problem: str | None = None) -> OtherEvent:
    """``item`` as an :class:`OtherEvent`, its fields read leniently."""
    try:
        event_time = _time(item.get(_time_key(item)), "$")
    except ResponseValidationError:
        event_time = None
    data = item.get("data")
    sender = data.get("sender") if isinstance(data, dict) else None
    plant = sender.get("plant") if isinstance(sender, dict) else None
    plant = plant if isinstance(plant, dict) else {}
    module = plant.get("module")
    module_id = module.get("id") if isinstance(module, dict) else None
    plant_id = plant.get("id")
    return OtherEvent(
        event_type=_event_type(item),
        event_id=_id(item),
        event_time=event_time,
        plant_id=_strip(plant_id) if isinstance(plant_id, str) else _plant_id(item),
        module_id=module_id if isinstance(module_id, str) else None,
        raw=item,
        problem=problem,
    )


def read_event(item: dict[str, Any], where: str = "$") -> list[WebhookEvent]:
    """The events of one event object (``where`` is its path, for errors).

    A validation event gives none; a thermostat notification one event per thermostat (or
    ResponseValidationError naming the path of what does not fit); anything else an OtherEvent.
    """
    if is_validation(item):
        return []
    payload = item.get("data", item)
    if isinstance(payload, str):  # an envelope that carries data as JSON text
        payload = _text(payload, f"{where}.data")
    if not (isinstance(payload, dict) and "chronothermostats" in payload):
        return [other_event(item)]
    statuses = payload["chronothermostats"]
    base = f"{where}.data" if "data" in item else where
    if not isinstance(statuses, list):
        raise _invalid(f"{base}.chronothermostats", "not a list")
    event_time = _time(item.get(_time_key(item)), f"{where}.{_time_key(item)}")
    events: list[WebhookEvent] = []
    for j, raw in enumerate(statuses):
        try:
            status = structure(raw, ChronothermostatStatus)
        except ResponseValidationError as exc:
            at = f"@ {base}.chronothermostats[{j}]"
            errors = [e.replace("@ $", at) for e in exc.errors]
            raise ResponseValidationError("the notification does not fit", errors=errors) from None
        events.append(
            ThermostatEvent(
                plant_id=_strip(status.plant_id) or _plant_id(item),
                module_id=status.module_id,
                status=status,
                event_time=event_time,
                event_id=_id(item),
            )
        )
    return events


def parse_notification(body: bytes | str | Any) -> list[WebhookEvent]:
    """The events in a C2C delivery body (bytes, text, or parsed JSON).

    Accepts a JSON array of Event Grid events or a single object, with or without the ``data``
    envelope. Thermostat statuses become :class:`ThermostatEvent` (one per thermostat), events
    of other kinds :class:`OtherEvent`, validation events nothing. A body that is not JSON, not
    an array or object of events, or a thermostat status that does not fit the model raises
    ResponseValidationError naming the path of the problem.
    """
    data = load(body)
    single = type(data) is not list
    events: list[WebhookEvent] = []
    for i, item in enumerate(event_items(data)):
        events.extend(read_event(item, "$" if single else f"$[{i}]"))
    return events
