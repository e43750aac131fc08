"""A token answer that is unusable but rotated the refresh token must not lose the login.

The simulator's token endpoint revokes the refresh token it was sent and answers a new one;
a tap mangles that answer (an expiry in milliseconds, a blank access token...), as a buggy or
hostile sign-in service would. The caller gets ``InvalidTokenResponse``; the rotated refresh
token is kept (saved, with the access token marked expired), so the next call refreshes with
it and works, instead of sending the revoked one (``ReauthorizationRequired``: login lost).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from legrand_async import InvalidTokenResponse, MemoryTokenStore

from ._auth_sim import TokenTap, auth_for, client_for, rig

Mangle = Callable[[dict[str, Any]], dict[str, Any]]


class MangledTap(TokenTap):
    """Passes the server's first token answer through ``mangle`` (later ones untouched)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, mangle: Mangle) -> None:
        super().__init__(inner)
        self.mangle: Mangle | None = mangle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.mangle is None or not request.url.path.endswith("/token"):
            return response
        body = self.mangle(json.loads(await response.aread()))
        self.mangle = None
        return httpx.Response(200, json=body)


def _only_expires_in(answer: dict[str, Any], expires_in: Any) -> dict[str, Any]:
    """The answer with ``expires_in`` as the only lifetime (a good ``expires_on`` would win)."""
    return {**{k: v for k, v in answer.items() if k != "expires_on"}, "expires_in": expires_in}


MANGLES: dict[str, Mangle] = {
    "expires_in-milliseconds": lambda a: _only_expires_in(a, a["expires_in"] * 1000),
    "expires_in-text": lambda a: {**a, "expires_in": "soon"},
    "expires_in-negative": lambda a: _only_expires_in(a, -1),
    "expires_on-past-only": lambda a: {
        **{k: v for k, v in a.items() if k != "expires_in"},
        "expires_on": 1_000_000_000,
    },
    "access-blank": lambda a: {**a, "access_token": "  "},
    "access-missing": lambda a: {k: v for k, v in a.items() if k != "access_token"},
    "access-line-separator": lambda a: {**a, "access_token": a["access_token"] + "\u2028"},
}


@pytest.mark.parametrize("name", list(MANGLES))
@pytest.mark.asyncio
async def test_an_unusable_answer_keeps_the_rotated_refresh_token(name: str) -> None:
    sim, clock, _, login = rig()
    tap = MangledTap(sim.transport(), MANGLES[name])
    store = MemoryTokenStore(login)
    auth = auth_for(sim, tap, store)
    async with client_for(sim, auth) as client:
        with pytest.raises(InvalidTokenResponse) as info:
            await client.smarther.list_plants()
        rotated = info.value.refresh_token
        assert rotated is not None
        assert rotated in sim.app.refresh
        assert rotated not in str(info.value)
        assert rotated not in repr(info.value)
        kept = await store.load()
        assert kept is not None
        assert kept.refresh_token == rotated
        assert kept.expires_within(clock.now(), 0)  # ... to be refreshed by the next call
        assert len(await client.smarther.list_plants()) == 1
    assert tap.sent == [login.refresh_token, rotated]
    assert tap.statuses == [200, 200]
    final = await store.load()
    assert final is not None
    assert final.refresh_token in sim.app.refresh


@pytest.mark.asyncio
async def test_an_unusable_answer_without_a_new_refresh_token_is_asked_again() -> None:
    """No rotation in the answer: the refresh token is still good, so the next call sends it
    again (an unusable answer is the server misbehaving, not a refusal to remember)."""
    sim, _, _, login = rig()

    def without_rotation(answer: dict[str, Any]) -> dict[str, Any]:
        sim.app.refresh.add(login.refresh_token)  # the server did not rotate after all
        return {"access_token": "", "expires_in": 3600}  # ... and says nothing of a new one

    tap = MangledTap(sim.transport(), without_rotation)
    auth = auth_for(sim, tap, MemoryTokenStore(login))
    async with client_for(sim, auth) as client:
        with pytest.raises(InvalidTokenResponse) as info:
            await client.smarther.list_plants()
        assert info.value.refresh_token is None
        assert len(await client.smarther.list_plants()) == 1
    assert tap.sent == [login.refresh_token, login.refresh_token]
