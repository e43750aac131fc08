"""The simulated OAuth server, its own ASGI app: ``/authorize`` with auto-consent, ``/token``
answering what Azure AD B2C answers, with rotating refresh tokens."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .._auth.app import DEFAULT_AUTH_URL
from .._clock import Clock
from .._routes import ROUTES
from ._wire import jwt_shaped, not_found, segment

__all__ = ["ACCESS_LIFETIME", "OAuthServer"]

ACCESS_LIFETIME = timedelta(hours=1)
CODE_LIFETIME = timedelta(minutes=10)
#: What ``refresh_token_expires_in`` says (90 days, reportedly; the simulator does not enforce it).
REFRESH_LIFETIME = timedelta(days=90)
#: The scopes the token answers carry: every scope a route of the library needs.
SCOPE = " ".join(dict.fromkeys(scope for route in ROUTES for scope in route.scopes))


class OAuthServer:
    """The registered application's sign-in: codes, expiring access tokens, rotating refreshes."""

    def __init__(
        self,
        *,
        clock: Clock,
        client_id: str,
        client_secret: str,
        access_lifetime: timedelta = ACCESS_LIFETIME,
        reuse_refresh_tokens: bool = False,
    ) -> None:
        if not access_lifetime > timedelta(0):
            raise ValueError("access_lifetime must be positive")
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_lifetime = access_lifetime
        #: Whether a refresh token stays good once used (rotated); False: refused (AADB2C90129).
        self.reuse_refresh_tokens = reuse_refresh_tokens
        self.tenant = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tenant/{client_id}"))
        self.user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{client_id}"))
        self.client_secret_expired = False
        self.codes: dict[str, tuple[str, datetime]] = {}  # code -> (redirect_uri, issued)
        self.access: dict[str, datetime] = {}  # access token -> expiry
        self.refresh: set[str] = set()
        routes = [
            Route("/authorize", self.authorize, methods=["GET"]),
            Route("/token", self.token, methods=["POST"]),
        ]
        #: The sign-in service's own ASGI app, and the paths it serves.
        self.asgi = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
        self.paths = frozenset(route.path for route in routes)

    def bearer_valid(self, authorization: str, now: datetime) -> bool:
        """Whether an ``Authorization`` header carries an access token still valid at ``now``."""
        scheme, _, token = authorization.partition(" ")
        expiry = self.access.get(token) if scheme.lower() == "bearer" else None
        return expiry is not None and expiry > now

    def issue_token(self) -> dict[str, Any]:
        """A fresh access and refresh token pair, in the answer Azure AD B2C gives."""
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        now = self.clock.now()
        self.access[access] = now + self.access_lifetime
        self.refresh.add(refresh)
        lifetime = int(self.access_lifetime.total_seconds())
        issued = int(now.timestamp())
        claims = {
            "ver": "1.0",
            "iss": f"{DEFAULT_AUTH_URL}/{self.tenant}/v2.0/",
            "sub": self.user,
            "aud": self.client_id,
            "exp": issued + lifetime,
            "iat": issued,
            "nbf": issued,
            "auth_time": issued,
            "oid": self.user,
        }
        profile = {"ver": "1.0", "tid": self.tenant, "oid": self.user, "upn": None}
        return {
            "access_token": access,
            "id_token": jwt_shaped(claims),
            "token_type": "Bearer",
            "not_before": issued,
            "expires_in": lifetime,
            "expires_on": issued + lifetime,
            "resource": self.client_id,
            "id_token_expires_in": lifetime,
            "profile_info": segment(profile),
            "scope": SCOPE,
            "refresh_token": refresh,
            "refresh_token_expires_in": int(REFRESH_LIFETIME.total_seconds()),
        }

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return JSONResponse({"message": "Internal error", "code": 1}, status_code=400)
        redirect = query.get("redirect_uri", "")
        code = secrets.token_urlsafe(16)
        self.codes[code] = (redirect, self.clock.now())
        params = {"code": code, "state": query.get("state", "")}
        separator = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{separator}{urlencode(params)}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}

        def refused(code: str, description: str, status: int = 400) -> JSONResponse:
            return JSONResponse({"error": code, "error_description": description}, status)

        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return refused("invalid_client", "AADB2C90081: The specified client secret is wrong.")
        if self.client_secret_expired:
            return refused(
                "invalid_grant",
                "AADB2C90085: The service has encountered an internal error. "
                "Please reauthenticate and try again.",
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.pop(str(form.get("code", "")), None)
            if issued is None or self.clock.now() - issued[1] > CODE_LIFETIME:
                return refused("invalid_grant", "AADB2C90080: The provided grant has expired.")
            return JSONResponse(self.issue_token())
        if grant == "refresh_token":
            old = str(form.get("refresh_token", ""))
            if old not in self.refresh:
                return refused("invalid_grant", "AADB2C90129: The provided grant has been revoked.")
            if not self.reuse_refresh_tokens:
                self.refresh.discard(old)  # rotation: the old refresh token is spent
            return JSONResponse(self.issue_token())
        return refused("unsupported_grant_type", f"unsupported grant type {grant!r}")
