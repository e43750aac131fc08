"""Reading JSON: the one function every file, config and body goes through.

:func:`loads` never raises anything but :class:`NotJSON` (a ValueError): not RecursionError on
absurd nesting, not UnicodeDecodeError. Strict by default (RFC 8259: no NaN or Infinity, no
integer of more than 4300 digits, whose conversion is quadratic); ``lenient`` reads what a
webhook sender may write (NaN, integers of any length as floats), through orjson when the
"webhooks" extra installs it. UTF-16 and UTF-32 (told by their first bytes) and a byte order
mark are read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

__all__ = ["NotJSON", "loads"]

_MAX_DIGITS: Final = 4300  # CPython's default int_max_str_digits


class NotJSON(ValueError):
    """The text is not JSON; ``reason`` says why in words that never quote it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _int(digits: str) -> int:
    if len(digits) > _MAX_DIGITS:  # whatever sys.set_int_max_str_digits says: int() is O(n²)
        raise ValueError(f"an integer of more than {_MAX_DIGITS} digits")
    return int(digits)


def _int_or_float(digits: str) -> int | float:
    try:
        return _int(digits)
    except ValueError:
        return float(digits)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT: Final = json.JSONDecoder(parse_int=_int, parse_constant=_no_constant)
_LENIENT: Final = json.JSONDecoder(parse_int=_int_or_float)


def _orjson() -> Callable[[bytes], Any] | None:
    """orjson's parser (three times faster than json), when the "webhooks" extra is installed."""
    try:
        from orjson import loads as fast
    except ImportError:  # pragma: no cover - json alone gives the same answers
        return None
    return fast


_fast_loads = _orjson()


def loads(content: bytes | str, *, lenient: bool = False) -> Any:
    """The JSON value of ``content``; :class:`NotJSON` when it is not JSON (or not text, or
    nested too deeply to parse)."""
    if lenient and _fast_loads is not None and type(content) is bytes:
        try:
            return _fast_loads(content)
        except ValueError:  # orjson refuses some JSON that json reads (NaN, huge integers)
            pass
    try:
        if isinstance(content, bytes):
            text = content.decode(json.detect_encoding(content))
        else:
            text = content
        return (_LENIENT if lenient else _STRICT).decode(text.removeprefix("\ufeff"))
    except UnicodeDecodeError:
        raise NotJSON("not UTF-8 text") from None
    except RecursionError:
        raise NotJSON("nested too deeply") from None
    except ValueError:
        raise NotJSON("not JSON") from None
