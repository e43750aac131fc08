"""Turn an httpx response into a result or a LegrandError: pure functions of the response.

Both read the response's :class:`~._transport.classify.Classification`, made once by the
transport stack (its innermost layer classifies every answer): nothing here reads the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from ._routing import Route
from ._secrets import request_secrets, scrub, scrub_json, server_text
from ._transport.classify import CLASSIFICATION, Classification, Kind
from ._transport.headers import request_id
from ._transport.retry import ATTEMPTS
from .errors import (
    LegrandError,
    ResponseTooLarge,
    ResponseValidationError,
    ServerQuotaExhausted,
    TransportError,
    error_class,
)

__all__ = [
    "classification",
    "error_from_exception",
    "error_from_response",
    "result_from_response",
    "server_answer",
]


def classification(response: httpx.Response) -> Classification:
    """The record the transport made of ``response`` (the stack classifies every answer)."""
    record: Classification = response.extensions[CLASSIFICATION]
    return record


def server_answer(
    response: httpx.Response, record: Classification, *, secrets: Iterable[str] = ()
) -> tuple[str, int | str | None, Any, str | None]:
    """``(message, code, body, request_id)`` of an error answer, fit for an exception: the
    request's secrets and ``secrets`` scrubbed from all four (whatever the server wrote may echo
    them), the message printable and bounded (the reason phrase, or ``HTTP <status>``, when the
    body has none)."""
    message = record.message or response.reason_phrase or f"HTTP {record.status}"
    code, body, rid = record.code, record.body, request_id(response.headers)
    hidden = [*request_secrets(response.request), *secrets]
    if hidden:
        message, code, body, rid = scrub_json([message, code, body, rid], hidden)
    return server_text(message), code, body, rid


def error_from_exception(
    exc: httpx.HTTPError,
    request: httpx.Request,
    *,
    secrets: Iterable[str] = (),
    undecodable: type[ResponseValidationError] = ResponseValidationError,
) -> LegrandError:
    """The documented error for an httpx exception out of the stack: a :class:`TransportError`,
    or ``undecodable`` for a body a decoding wire (respx, say) could not decode; its text is
    scrubbed of the request's secrets and ``secrets``. Raise it ``from error.__cause__``."""
    hidden = [*request_secrets(request), *secrets]
    text = server_text(str(exc), hidden)
    error: LegrandError
    if isinstance(exc, httpx.DecodingError):
        error = undecodable(f"the response body could not be decoded: {text}")
    else:
        attempts = request.extensions.get(ATTEMPTS, 1)
        error = TransportError(
            f"{request.method} {request.url.path} failed after {attempts} attempt(s): "
            f"{type(exc).__name__}: {text}",
            attempts=attempts,
        )
    if text == str(exc):  # a cause echoing a secret stays out of the chain
        error.__cause__ = exc
    return error


def _too_large(record: Classification) -> ResponseTooLarge:
    message = record.message or "the response body is too large"
    return ResponseTooLarge(message, status_code=record.status)


def error_from_response(response: httpx.Response, *, attempts: int) -> LegrandError:
    """The documented error for a non-2xx response that came through the transport stack."""
    record = classification(response)
    status = record.status
    if record.kind is Kind.TOO_LARGE:
        return _too_large(record)
    message, code, body, rid = server_answer(response, record)
    details: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "request_id": rid,
        "body": body,
        "attempts": attempts,
        "retry_after": record.retry_after,
    }
    if record.kind is Kind.QUOTA:
        return ServerQuotaExhausted(message, resets_at=record.quota_until, **details)
    return error_class(status)(message, **details)


def _scrubbed(exc: ResponseValidationError, secrets: list[str]) -> ResponseValidationError:
    """``exc`` without the request's secrets the body echoed (in its paths or its cause)."""
    if not secrets:
        return exc
    exc.errors = [scrub(error, secrets) for error in exc.errors]
    exc.message = scrub(exc.message, secrets)
    exc.args = (exc.message,)
    if any(scrub(text, secrets) != text for text in _texts(exc.__cause__)):
        exc.__cause__, exc.__suppress_context__ = None, True  # it quotes a secret: left out
    return exc


def _texts(error: BaseException | None) -> Iterator[str]:
    """What a traceback of ``error`` prints of each exception in it (groups, notes, causes)."""
    todo = [error] if error is not None else []
    while todo:
        error = todo.pop()
        yield str(error)
        yield from map(str, getattr(error, "__notes__", ()))
        if isinstance(error, BaseExceptionGroup):
            todo.extend(error.exceptions)
        if error.__cause__ is not None:
            todo.append(error.__cause__)
        elif error.__context__ is not None and not error.__suppress_context__:
            todo.append(error.__context__)


def result_from_response(route: Route, response: httpx.Response) -> Any:
    """The result of a 2xx response to ``route``: its extraction step (``route.extract``) of
    the body the transport parsed, its errors carrying the status and no secret."""
    extract = route.extract
    if extract is None:
        return None
    status = response.status_code
    record = classification(response)
    if record.kind is Kind.TOO_LARGE:
        raise _too_large(record)
    if record.kind is Kind.UNDECODABLE:
        raise ResponseValidationError(
            f"the response body could not be decoded: {record.message}", status_code=status
        )
    if record.kind is Kind.MALFORMED:
        raise ResponseValidationError("the response body is not JSON", status_code=status)
    try:
        return extract(None if status == 204 else record.body)
    except ResponseValidationError as exc:
        exc.status_code = status
        raise _scrubbed(exc, request_secrets(response.request))  # noqa: B904 - exc itself
    except RecursionError:
        raise ResponseValidationError(
            "the response does not fit the model: nested too deeply", status_code=status
        ) from None
