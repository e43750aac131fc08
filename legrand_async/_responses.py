"""Turn an httpx response into a result or a LegrandError: pure functions of the response."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from ._converters import structure
from ._routing import Route
from ._secrets import request_secrets, scrub_json
from ._transport.headers import QUOTA_TEXT, parse_quota_reset, request_id
from ._transport.retry import RETRY_AFTER
from .errors import LegrandError, QuotaExhausted, ResponseValidationError, error_class

__all__ = ["error_from_response", "parse_error_body", "result_from_response"]

_MAX_TEXT = 500


def parse_error_body(content: bytes) -> tuple[int | str | None, str | None, Any]:
    """``(code, message, body)`` from any error body format the cloud sends.

    Smarther / door entry / API Management ``{"statusCode", "message"}``; Home + Control
    ``{"errors": [{"userMessage", "internalMessage", "code"}]}``; OAuth ``{"error",
    "error_description"}``; anything else falls back to the text.
    """
    if not content.strip():
        return None, None, None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        text = content.decode("utf-8", "replace").strip()
        return None, text, text
    if isinstance(body, str):
        return None, body, body
    item = body
    if isinstance(item, list) and item and isinstance(item[0], dict):
        item = item[0]
    if not isinstance(item, dict):
        return None, None, body
    errors = item.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        message = first.get("userMessage") or first.get("internalMessage") or first.get("message")
        return _code(first.get("code")), _text(message), body
    error = item.get("error")
    if isinstance(error, dict):  # {"error": {"code", "message"}}
        return _code(error.get("code")), _text(error.get("message")), body
    if isinstance(error, str):
        return error, _text(item.get("error_description") or item.get("message")), body
    code = item.get("statusCode", item.get("code"))
    return _code(code), _text(item.get("message") or item.get("Message")), body


def _code(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, int | str) else str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def error_from_response(response: httpx.Response, *, now: datetime, attempts: int) -> LegrandError:
    """The documented error for a non-2xx response (its body must have been read)."""
    status = response.status_code
    code, message, body = parse_error_body(response.content)
    secrets = request_secrets(response.request)
    if secrets:
        message, body = scrub_json(message, secrets), scrub_json(body, secrets)
    message = (message or response.reason_phrase or f"HTTP {status}")[:_MAX_TEXT]
    rid = request_id(response.headers)
    if QUOTA_TEXT in message.lower():
        return QuotaExhausted(
            message,
            resets_at=parse_quota_reset(message, now),
            status_code=status,
            code=code,
            request_id=rid,
        )
    return error_class(status)(
        message,
        status_code=status,
        code=code,
        request_id=rid,
        body=body,
        attempts=attempts,
        retry_after=response.extensions.get(RETRY_AFTER),
    )


def _unwrap(data: Any, path: tuple[str | int, ...]) -> Any:
    where = "$"
    for step in path:
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            raise ResponseValidationError(
                "the response does not fit the model", errors=[f"required value missing @ {where}"]
            ) from None
    return data


def result_from_response(route: Route, response: httpx.Response) -> Any:
    """The structured result of a 2xx response to ``route``."""
    if route.response is None:
        return None
    content = response.content
    if response.status_code == 204 or not content.strip():
        if route.empty is not None:
            return route.empty()
        raise ResponseValidationError(
            "the response body is empty", status_code=response.status_code
        )
    try:
        data = json.loads(content)
    except ValueError:
        raise ResponseValidationError(
            "the response body is not JSON", status_code=response.status_code
        ) from None
    try:
        data = _unwrap(data, route.unwrap)
        if data is None and route.empty is not None:
            return route.empty()
        result = structure(data, route.response)
        if route.first:
            if not result:
                raise ResponseValidationError(
                    "the response does not fit the model", errors=["empty list @ $"]
                )
            return result[0]
        return result
    except ResponseValidationError as exc:
        exc.status_code = response.status_code
        raise
