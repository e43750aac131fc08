"""A fixed access token, for callers that manage tokens themselves."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .._secrets import refuse_unsafe_characters

__all__ = ["StaticToken"]


class StaticToken(httpx.Auth):
    """Sends ``Authorization: Bearer <token>``; the token never shows in ``repr``.

    A token holding a control character (CR, LF, NUL, DEL...) raises ValueError.
    """

    def __init__(self, access_token: str) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise ValueError("access_token must be a non-empty string")
        refuse_unsafe_characters("access_token", access_token)
        self._header = f"Bearer {access_token.strip()}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "StaticToken(access_token='***')"
