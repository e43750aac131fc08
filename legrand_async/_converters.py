"""The cattrs converter factory: every wire name and format quirk lives here, not on the models.

- attribute ``snake_case`` <-> wire ``camelCase``, with the odd names in :data:`WIRE_NAMES`;
- decimal strings (``"18.00000"``) for floats, ``"1"`` or ``1`` for ints, enums in any case
  with an ``UNKNOWN`` fallback, datetimes with or without offset (``Z`` too, and the end of a
  ``start/end`` range), ``""`` for a missing optional datetime;
- lenient by default (unknown keys ignored); ``make_converter(strict=True)`` forbids extra keys,
  which the tests use over every real fixture so that a new field fails CI instead of vanishing.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from types import UnionType
from typing import Any, TypeVar, Union

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import ResponseValidationError
from .models import home_control, smarther
from .models._enum import LenientEnum

__all__ = ["WIRE_NAMES", "make_converter", "structure", "unstructure", "warm", "wire_time"]

T = TypeVar("T")

#: Wire names that are not the camelCase of the attribute name.
WIRE_NAMES: Mapping[tuple[type, str], str] = {
    (smarther.Subscription, "endpoint_url"): "EndPointUrl",
    (smarther.SubscriptionRequest, "endpoint_url"): "EndPointUrl",
    (smarther.Measure, "timestamp"): "timeStamp",
    (home_control.TopologyModule, "hw_type"): "hw_type",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _wire_name(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        wire = WIRE_NAMES.get((klass, name))
        if wire is not None:
            return wire
    return _camel(name)


def _is_list(tp: Any) -> bool:
    return tp is list or typing.get_origin(tp) is list


def _optional_of(tp: Any) -> Any:
    """``X`` for ``X | None`` (or ``Optional[X]``), else None."""
    args = typing.get_args(tp)
    if len(args) == 2 and type(None) in args and typing.get_origin(tp) in (Union, UnionType):
        return args[0] if args[1] is type(None) else args[1]
    return None


def _is_optional(tp: Any) -> bool:
    return _optional_of(tp) is not None


def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


_ENUM_VALUES: dict[type[LenientEnum], dict[str, LenientEnum]] = {}


def _structure_enum(value: Any, cls: type[LenientEnum]) -> LenientEnum:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    values = _ENUM_VALUES.get(cls)
    if values is None:  # the wire mostly sends UPPERCASE: look both cases up directly
        values = _ENUM_VALUES[cls] = {v: m for m in cls for v in (m.value, m.value.upper())}
    member = values.get(value)
    return member if member is not None else cls(value)


def _unstructure_enum(value: LenientEnum) -> str:
    return value.value


def _structure_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 date-time string, got {type(value).__name__}")
    # A ``start/end`` range (boost) means "until end".
    return datetime.fromisoformat(value.rpartition("/")[2].strip())


def _structure_optional_datetime(value: Any, _: type) -> datetime | None:
    if value is None or value == "":
        return None
    return _structure_datetime(value, datetime)


def _program_numbers(strict: bool) -> Callable[[Any, type], list[int]]:
    """``[{"number": 1}]`` or ``[{"number": "1"}]`` -> ``[1]``."""

    def structure_numbers(value: Any, _: type) -> list[int]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list of programs, got {type(value).__name__}")
        numbers = []
        for item in value:
            if not isinstance(item, dict) or "number" not in item:
                kind = type(item).__name__
                raise TypeError(f"expected a program object with a number, got {kind}")
            if strict and item.keys() != {"number"}:
                raise ValueError(f"unknown program keys {sorted(item.keys() - {'number'})}")
            numbers.append(_structure_int(item["number"], int))
        return numbers

    return structure_numbers


def _unstructure_program_numbers(numbers: list[int]) -> list[dict[str, int]]:
    return [{"number": number} for number in numbers]


def wire_time(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss`` in the device's local time (aware values go to local time)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _decimal(value: float) -> str:
    return repr(round(float(value), 2))


def _unstructure_set_status(status: smarther.SetStatus) -> dict[str, Any]:
    body: dict[str, Any] = {"function": status.function.value, "mode": status.mode.value}
    if status.setpoint is not None:
        body["setPoint"] = {"value": _decimal(status.setpoint), "unit": "C"}
    if status.program is not None:
        body["programs"] = [{"number": status.program}]
    if status.start is not None and status.until is not None:
        body["activationTime"] = f"{wire_time(status.start)}/{wire_time(status.until)}"
    elif status.until is not None:
        body["activationTime"] = wire_time(status.until)
    return body


def _unstructure_switch(switch: home_control.Switch) -> dict[str, str]:
    return {"status": "on" if switch.on else "off"}


def _module_statuses(
    converter: cattrs.Converter, strict: bool
) -> Callable[[Any, type], list[home_control.ModuleStatus]]:
    """``{"plugs": [...], "lights": [...]}`` -> one list, each status with its ``kind``."""
    kind_of = home_control.ModuleKind

    def structure_statuses(value: Any, _: type) -> list[home_control.ModuleStatus]:
        if not isinstance(value, dict):
            raise TypeError(f"expected module groups, got {type(value).__name__}")
        statuses = []
        for group, items in value.items():
            kind = kind_of(str(group).removesuffix("s"))
            if strict and kind is kind_of.UNKNOWN:
                raise ValueError(f"unknown module group {group!r}")
            for status in converter.structure(items, list[home_control.ModuleStatus]):
                statuses.append(attrs.evolve(status, kind=kind))
        return statuses

    return structure_statuses


def _field_overrides(strict: bool) -> dict[tuple[type, str], dict[str, Any]]:
    """Fields whose wire shape differs from their attribute type."""
    return {
        (smarther.ChronothermostatStatus, "programs"): {
            "struct_hook": _program_numbers(strict),
            "unstruct_hook": _unstructure_program_numbers,
        },
    }


#: How many paths a ResponseValidationError lists at most (and bad items of a list looked at).
MAX_ERRORS = 10


def _list_error(
    value: list[Any], tp: type, item: Callable[[Any, type], Any], item_type: Any
) -> IterableValidationError:
    """Why ``value`` is not a ``tp``: its first :data:`MAX_ERRORS` bad items, with their index.

    Not every bad item: 100,000 of them would cost seconds of CPU to tell.
    """
    errors: list[Exception] = []
    for index, element in enumerate(value):
        try:
            item(element, item_type)
        except Exception as exc:
            note = IterableValidationNote(f"Structuring {tp} @ index {index}", index, item_type)
            exc.__notes__ = [*getattr(exc, "__notes__", []), note]
            errors.append(exc)
            if len(errors) == MAX_ERRORS:
                break
    return IterableValidationError(f"While structuring {tp!r}", errors, tp)


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """A converter for every model; ``strict`` forbids keys the models do not know."""
    converter = cattrs.Converter(forbid_extra_keys=strict)
    field_overrides = _field_overrides(strict)

    def overrides(cls: type) -> dict[str, Any]:
        return {
            a.name: override(
                rename=_wire_name(cls, a.name), **field_overrides.get((cls, a.name), {})
            )
            for a in attrs.fields(cls)
        }

    def list_factory(cls: type) -> Callable[[Any, type], Any]:
        (item_type,) = typing.get_args(cls)
        try:
            item: Callable[[Any, type], Any] = converter.get_structure_hook(item_type)
        except RecursionError:  # a model that holds itself: bind late
            item = converter.structure

        def structure_list(value: Any, tp: type) -> Any:
            if not isinstance(value, list):  # cattrs would iterate a string or a dict's keys
                raise TypeError(f"expected a list, got {type(value).__name__}")
            try:
                return [item(element, item_type) for element in value]
            except Exception:  # noqa: S110 - told below, item by item
                pass
            raise _list_error(value, tp, item, item_type)

        return structure_list

    def optional_factory(tp: Any) -> Callable[[Any, type], Any]:
        inner_type = _optional_of(tp)
        if inner_type is datetime:
            return _structure_optional_datetime  # "" means None too
        inner = converter.get_structure_hook(inner_type)  # resolved once, not per value

        def structure_optional(value: Any, _: type) -> Any:
            return None if value is None else inner(value, inner_type)

        return structure_optional

    def structure_factory(cls: type) -> Callable[[Any, type], Any]:
        return make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=strict, **overrides(cls)
        )

    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(cls, converter, **overrides(cls))

    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(LenientEnum, _structure_enum)
    converter.register_unstructure_hook(LenientEnum, _unstructure_enum)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook_factory(_is_optional, optional_factory)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(smarther.SetStatus, _unstructure_set_status)
    converter.register_unstructure_hook(home_control.Switch, _unstructure_switch)
    converter.register_structure_hook(
        home_control.ModuleStatuses, _module_statuses(converter, strict)
    )
    converter.register_structure_hook_factory(_is_list, list_factory)
    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


_CONVERTER = make_converter()


def structure(data: Any, cls: Any, *, converter: cattrs.Converter = _CONVERTER) -> Any:
    """Structure ``data`` into ``cls``; any mismatch raises ResponseValidationError with paths."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        errors = cattrs.transform_error(exc, path="$")
        if len(errors) > MAX_ERRORS:  # a list of 100,000 bad items: say where the first ones are
            errors[MAX_ERRORS:] = ["and more"]
        raise ResponseValidationError("the response does not fit the model", errors=errors) from exc


def warm(cls: Any, *, converter: cattrs.Converter = _CONVERTER) -> None:
    """Generate every structure hook ``cls`` needs now, so the first payload does not pay for it."""
    seen: set[Any] = set()
    todo = [cls]
    while todo:
        tp = todo.pop()
        if tp in seen or tp is type(None):
            continue
        seen.add(tp)
        converter.get_structure_hook(tp)
        if attrs.has(tp):
            todo.extend(field.type for field in attrs.fields(attrs.resolve_types(tp)))
        todo.extend(typing.get_args(tp))


def unstructure(value: Any, *, converter: cattrs.Converter = _CONVERTER) -> Any:
    """The JSON-ready form of a model."""
    return converter.unstructure(value)
