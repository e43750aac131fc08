"""One classification per response: what the transport learnt from it, read once.

The innermost transport reads each body under the size cap and stores a :class:`Classification`
in ``response.extensions[CLASSIFICATION]``; the retry loop, the limiter and the error mapping
read that record instead of parsing the body again. Every function here is total: any status,
headers and bytes give a record, never an exception.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from .._json import loads
from .headers import QUOTA_TEXT, parse_quota_reset, parse_retry_after

__all__ = [
    "CLASSIFICATION",
    "EXPECTS_JSON",
    "MAX_DEPTH",
    "Classification",
    "Kind",
    "classify",
    "parse_error_body",
]

#: Response extension holding the :class:`Classification`.
CLASSIFICATION: Final = "legrand_async.classification"
#: Request extension: True when the caller will read a 2xx body as JSON (so it is parsed once,
#: and an answer that is not JSON is retried on idempotent routes).
EXPECTS_JSON: Final = "legrand_async.expects_json"
#: Error bodies nested deeper than this are kept as their text.
MAX_DEPTH: Final = 64
_MESSAGE_KEYS: Final = ("message", "Message", "userMessage", "internalMessage", "error_description")
_MAX_SCAN: Final = 64 * 1024  # how much of an error body is searched for the gateway's texts
_MAX_ERROR: Final = 64 * 1024  # error bodies longer than this are kept as text, not parsed
_MAX_ITEMS: Final = 16  # items of a list body, and errors of an item, searched for messages


class Kind(enum.Enum):
    """What sort of answer a response is."""

    OK = "ok"  #: a 2xx whose body (if the caller reads it) is JSON
    ERROR = "error"  #: an error status
    QUOTA = "quota"  #: the gateway's "Out of call volume quota", whatever its status
    MALFORMED = "malformed"  #: a 2xx whose body is not JSON (cut short, text, too deep)
    UNDECODABLE = "undecodable"  #: the body is not in the Content-Encoding it claims
    TOO_LARGE = "too_large"  #: the body is longer than the client's cap (not read further)


@attrs.frozen(slots=True)
class Classification:
    """What a response said, read once.

    ``retry_after`` is the wait the server asked for (finite seconds, not capped);
    ``quota_until`` when a quota answer says the quota comes back; ``code``, ``message`` and
    ``body`` the parsed error (or, for a 2xx read as JSON, ``body`` is the document).
    """

    status: int
    kind: Kind
    retry_after: float | None = None
    quota_until: datetime | None = None
    code: int | str | None = None
    message: str | None = None
    body: Any = None


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels (no recursion)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def parse_error_body(content: bytes) -> tuple[int | str | None, str | None, Any]:
    """``(code, message, body)`` from any error body format the cloud sends.

    Smarther / door entry / API Management ``{"statusCode", "message"}``; Home + Control
    ``{"errors": [{"userMessage", "internalMessage", "code"}]}``; OAuth ``{"error",
    "error_description"}``; anything else (not JSON, invalid UTF-8, nested more than
    :data:`MAX_DEPTH` levels, longer than 64 KiB) falls back to the text.
    """
    code, message, body, _ = _read_error(content)
    return code, message, body


def _read_error(content: bytes) -> tuple[int | str | None, str | None, Any, list[str]]:
    """:func:`parse_error_body` and every message text of the body, in one walk."""
    if not content.strip():
        return None, None, None, []
    try:
        if len(content) > _MAX_ERROR:  # real ones are a few hundred bytes; parsing costs more
            raise ValueError("too long to parse")
        body = loads(content)
        if _too_deep(body, MAX_DEPTH):
            raise ValueError("nested too deeply")
    except ValueError:
        text = content.decode("utf-8", "replace").strip()
        return None, text, text, []
    if isinstance(body, str):
        return None, body, body, []
    code, message, texts = _walk(body)
    return code, message, body, texts


def _walk(body: Any) -> tuple[int | str | None, str | None, list[str]]:
    """The one walk of a parsed error body (at most :data:`_MAX_ITEMS` items and errors each):
    the code and message of its first item, by that item's format, and every message text
    (``message``, ``errors[].userMessage``, ``error.message``...), where the gateway may have
    put its quota text."""
    items = body if isinstance(body, list) else [body]
    code: int | str | None = None
    message: str | None = None
    texts: list[str] = []
    for number, item in enumerate(items[:_MAX_ITEMS]):
        if not isinstance(item, dict):
            continue
        errors = item.get("errors")
        errors = errors[:_MAX_ITEMS] if isinstance(errors, list) else []
        error = item.get("error")
        entries = [item, *(e for e in errors if isinstance(e, dict))]
        if isinstance(error, dict):
            entries.append(error)
        for entry in entries:
            for key in _MESSAGE_KEYS:
                value = entry.get(key)
                if isinstance(value, str):
                    texts.append(value)
        if number == 0:
            code, message = _first_error(item, errors, error)
    return code, message, texts


def _first_error(
    item: dict[str, Any], errors: list[Any], error: Any
) -> tuple[int | str | None, str | None]:
    """The code and message of an error item, by its format."""
    if errors and isinstance(errors[0], dict):  # Home + Control
        first = errors[0]
        message = first.get("userMessage") or first.get("internalMessage") or first.get("message")
        return _code(first.get("code")), _text(message)
    if isinstance(error, dict):  # {"error": {"code", "message"}}
        return _code(error.get("code")), _text(error.get("message"))
    if isinstance(error, str):  # OAuth
        return error, _text(item.get("error_description") or item.get("message"))
    code = item.get("statusCode", item.get("code"))
    return _code(code), _text(item.get("message") or item.get("Message"))


def _code(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, int | str) else str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def classify(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    now: datetime,
    expects_json: bool,
    kind: Kind | None = None,
    why: str | None = None,
) -> Classification:
    """The record of one response; ``kind`` forces TOO_LARGE or UNDECODABLE (no body), ``why``.

    A 2xx whose body the caller does not read is OK whatever the body is.
    """
    if 200 <= status < 300 and not expects_json:
        return Classification(status, Kind.OK)
    if kind is not None:
        wait = None if 200 <= status < 300 else parse_retry_after(headers, None, now)
        return Classification(status, kind, retry_after=wait, message=why)
    if 200 <= status < 300:
        if not content or content.isspace():
            return Classification(status, Kind.OK)
        try:
            return Classification(status, Kind.OK, body=loads(content))
        except ValueError:
            return Classification(status, Kind.MALFORMED)
    code, message, body, messages = _read_error(content)
    raw = content[:_MAX_SCAN].decode("utf-8", "replace")
    texts = "\n".join([raw, *messages])
    if QUOTA_TEXT in texts.lower():
        return Classification(
            status,
            Kind.QUOTA,
            retry_after=parse_retry_after(headers, texts, now),
            quota_until=parse_quota_reset(texts, now),
            code=code,
            message=message,
            body=body,
        )
    return Classification(
        status,
        Kind.ERROR,
        retry_after=parse_retry_after(headers, texts, now),
        code=code,
        message=message,
        body=body,
    )
