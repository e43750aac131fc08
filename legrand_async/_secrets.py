"""Secrets at the edges: refuse control characters where they enter, scrub them from error text.

One place for these rules, used by the client core (subscription key, bearer token), the token
flow (client secret, code, refresh token), token parsing and the token stores. A server may
echo a secret in any form: as is, percent-encoded (any case, any subset of its characters),
JSON-escaped (``\\u0041``), repr-escaped; :func:`scrub` finds it behind every one of them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import httpx

__all__ = [
    "printable",
    "refuse_unsafe_characters",
    "request_secrets",
    "scrub",
    "scrub_json",
    "server_text",
]

_HIDDEN = "***"
_JSON_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_JSON_CHARS = dict(zip('"\\/bfnrt', '"\\/\b\f\n\r\t', strict=True))
_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2})+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


#: Characters no secret holds: controls (CR, LF, NUL, DEL, C1...), invisible formatting (zero
#: width, bidi overrides, BOM), line and paragraph separators, surrogates, private and unassigned.
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def refuse_unsafe_characters(name: str, value: str, *, header: bool = True) -> None:
    """ValueError if ``value`` holds a character no secret holds, or (``header``: it is sent in
    an HTTP header, as the access token and subscription key are) one that is not printable
    ASCII, which httpx could not send.

    The message names the setting and the character's position, never the value: such a value
    would split a header, end a log line early or hide in a terminal.
    """
    if value.isascii() and value.isprintable():
        return
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category in _UNSAFE or (header and not " " <= char <= "~"):
            kind = "a control character" if category == "Cc" else "a character it cannot hold"
            raise ValueError(
                f"{name} contains {kind} (U+{ord(char):04X} at position {position}): refused, "
                "check how it was copied"
            )


def _forms(secret: str) -> set[str]:
    """The ways a secret shows up in an exception's text: as is, URL-encoded, repr-escaped,
    JSON-escaped (other encodings are undone by :func:`_replace` before it looks again)."""
    as_bytes = repr(secret.encode("utf-8", "backslashreplace"))[2:-1]
    forms = {secret, quote(secret, safe=""), quote_plus(secret), repr(secret)[1:-1], as_bytes}
    forms.update(json.dumps(secret, ensure_ascii=escape)[1:-1] for escape in (True, False))
    return {form for form in forms if form}


def _all_forms(secrets: Iterable[str]) -> list[str]:
    forms = {form for secret in secrets if secret and secret.strip() for form in _forms(secret)}
    return sorted(forms, key=len, reverse=True)  # longest first: no half-hidden secret


def _hide(text: str, forms: list[str]) -> str:
    for form in forms:
        text = text.replace(form, _HIDDEN)
    return text


def _json_char(match: re.Match[str]) -> str:
    code, simple = match.groups()
    return chr(int(code, 16)) if code else _JSON_CHARS[simple]


def _json_unescaped(text: str) -> str:
    text = _JSON_ESCAPE.sub(_json_char, text)
    if _SURROGATE.search(text):  # "\\ud83d\\ude00" is one character, as JSON means it
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _percent_unescaped(text: str) -> str:
    return _PERCENT.sub(lambda m: unquote(m[0], errors="replace"), text)


#: What undoes each layer of encoding, applied in turn (4 layers deep at most).
_LAYERS = (_json_unescaped, _percent_unescaped) * 4


def _replace(text: str, forms: list[str]) -> str:
    """``text`` with every form hidden; decoded, if that is what it takes to hide one."""
    text = _hide(text, forms)
    plain, found = text, False
    for undo in _LAYERS:
        if "\\" not in plain and "%" not in plain:
            break
        decoded = undo(plain)
        plain = _hide(decoded, forms)
        found = found or plain != decoded  # a secret hid behind this layer
    return plain if found else text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (in any of the forms it may be echoed in) replaced by ``***``."""
    return _replace(text, _all_forms(secrets))


def scrub_json(value: Any, secrets: list[str]) -> Any:
    """``value`` (text or parsed JSON) with every secret replaced by ``***``.

    A loop, not recursion: a body nested thousands deep is scrubbed like any other.
    """
    forms = _all_forms(secrets)
    todo: list[tuple[Any, Any]] = []

    def copy(item: Any) -> Any:
        if isinstance(item, str):
            return _replace(item, forms)
        if isinstance(item, dict | list):
            shell: Any = {} if isinstance(item, dict) else []
            todo.append((item, shell))
            return shell
        return item

    result = copy(value)
    while todo:
        source, target = todo.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                target[copy(key)] = copy(item)
        else:
            target.extend(copy(item) for item in source)
    return result


def printable(text: str) -> str:
    """``text`` with every character that is not printable (CR, LF, ESC, bidi overrides...)
    escaped, so that a server's text cannot forge a log line or hide in a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def server_text(text: str, secrets: Iterable[str] = (), limit: int = 500) -> str:
    """What a server (or an exception about its answer) wrote, fit for an error message: the
    ``secrets`` scrubbed, unprintable characters escaped, at most ``limit`` characters."""
    return printable(scrub(text, secrets))[:limit]


def request_secrets(request: httpx.Request) -> list[str]:
    """The bearer token and subscription key a request carries."""
    authorization = request.headers.get("authorization", "")
    values = [
        authorization.partition(" ")[2] or authorization,
        request.headers.get("ocp-apim-subscription-key", ""),
    ]
    return [v for v in values if v.strip()]
