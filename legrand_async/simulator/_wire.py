"""What the simulated gateway and every handler table share: error bodies and JSON bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["Handler", "error", "hc_error", "json_object", "jwt_shaped", "not_found", "segment"]

Handler = Callable[..., Awaitable[Response]]


def error(status: int, message: str) -> JSONResponse:
    """Smarther / door entry / gateway error format."""
    return JSONResponse({"statusCode": status, "message": message}, status_code=status)


def hc_error(status: int, message: str) -> JSONResponse:
    """Home + Control error format."""
    body = {"errors": [{"userMessage": message, "internalMessage": message, "code": status}]}
    return JSONResponse(body, status_code=status)


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request's body if it is a JSON object, else None."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def not_found(request: Request, exc: Exception) -> Response:
    """Starlette's 404 (no such path) and 405 (no such method), in the Smarther format."""
    return error(getattr(exc, "status_code", 404), "Resource not found")


def segment(part: dict[str, Any]) -> str:
    """A JSON object as one base64url segment of a JWT (no padding)."""
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def jwt_shaped(claims: dict[str, Any]) -> str:
    """A JWT-shaped text carrying ``claims``: ``alg`` ``none``, not signed."""
    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}.sim"
