"""OAuth2: the authorization-code flow, token parsing, token endpoint errors, OAuth2Auth, secrecy.

Every sleep goes through the fake clock and every request through respx: nothing waits for real
and nothing leaves the process. The secrets are distinctive strings, so "never shows a secret"
is a plain substring check over reprs, errors and every log record of the module.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import respx

from legrand_async import (
    APIError,
    AuthError,
    AuthorizationCodeExpired,
    ClientSecretExpired,
    LegrandClient,
    LegrandError,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    QuotaExhausted,
    RateLimited,
    ReauthorizationRequired,
    RedirectUriMismatch,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    StateMismatch,
    Token,
    TokenRateLimited,
    TokenServerError,
    TokenStore,
    TransportError,
    Unauthorized,
)
from legrand_async._auth import DEFAULT_SCOPES

from ._auth_sim import FaultyStore
from .conftest import AUTH_HOST, KEY, PLANT, PLANTS_URL, TOKEN_URL, FakeClock, wire

# --------------------------------------------------------------------------------------------
# Secrets (distinctive, so that a substring check means something) and other constants
# --------------------------------------------------------------------------------------------

CLIENT_ID = "client-id-0b7e42"
CLIENT_SECRET = "SECRET-client-5a1f"
REDIRECT = "https://app.example.org/callback/"
CODE = "CODE-auth-8e4b21"
OTHER_CODE = "CODE-auth-other-31c9"
AT1, RT1 = "AT-first-7f3a91", "RT-first-2c8d44"
AT2, RT2 = "AT-second-b41e07", "RT-second-99f0c3"
AT3, RT3 = "AT-third-5d62aa", "RT-third-e1a7b8"
AT_OTHER, RT_OTHER = "AT-otherproc-3b9c5e", "RT-otherproc-6f12d0"

SECRETS = (
    CLIENT_SECRET,
    CODE,
    OTHER_CODE,
    AT1,
    RT1,
    AT2,
    RT2,
    AT3,
    RT3,
    AT_OTHER,
    RT_OTHER,
    KEY,
)

PLANTS_BODY = {"plants": [{"id": PLANT, "name": "Casa"}]}
SECRETS_PAGE = "mysettings.developer.legrand.com/Applications/Owned"

SEED_SECRET_EXPIRED = {
    "error": "invalid_grant",
    "error_description": (
        "AADB2C90085: The service has encountered an internal error. "
        "Please reauthenticate and try again."
    ),
}
CODE_EXPIRED = {
    "error": "invalid_grant",
    "error_description": (
        "AADB2C90080: The provided grant has expired. Please re-authenticate and try again. "
        "Current time: 1763726400, Grant issued time: 1763725000, "
        "Grant expiration time: 1763725600"
    ),
}
REPLY_URL_MISMATCH = {
    "error": "invalid_request",
    "error_description": (
        "The reply url host xxxxx doesn't match with the ones configured on the application"
    ),
}
GRANT_REVOKED = {
    "error": "invalid_grant",
    "error_description": (
        "AADB2C90129: The provided grant has been revoked. Please reauthenticate and try again."
    ),
}
TOKEN_INVALID_401 = {
    "statusCode": 401,
    "message": "Unauthorized. Access token is missing or invalid.",
}
SUBSCRIPTION_KEY_401 = {
    "statusCode": 401,
    "message": (
        "Access denied due to invalid subscription key. "
        "Make sure to provide a valid key for an active subscription."
    ),
}

#: Every LegrandError a test caught through ``raises``: checked for secrets at teardown.
RAISED: list[BaseException] = []


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"secret {secret!r} leaked in {text!r}"


def error_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), repr(exc.args)]
    body = getattr(exc, "body", None)
    if body is not None:
        texts.append(repr(body))
    return texts


async def raises(expected: type[BaseException] | tuple[type[BaseException], ...], aw: Any) -> Any:
    """Await ``aw``, which must raise ``expected``; the error is kept for the secrecy check."""
    with pytest.raises(expected) as info:
        await aw
    RAISED.append(info.value)
    return info.value


@pytest.fixture(autouse=True)
def _no_secret_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG; afterwards no record and no caught error shows a secret."""
    caplog.set_level(logging.DEBUG)
    names = {"legrand_async", "httpx", "httpcore", "respx", "asyncio"}
    names.update(logging.root.manager.loggerDict)
    for name in sorted(names):
        caplog.set_level(logging.DEBUG, logger=name)
    RAISED.clear()
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    for record in records:
        assert_no_secret(record.getMessage(), str(record.msg), repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            assert_no_secret(*error_texts(record.exc_info[1]))
    assert_no_secret(caplog.text)
    for exc in RAISED:
        assert_no_secret(*error_texts(exc))
    RAISED.clear()


# --------------------------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------------------------


def grant(access: str | None = AT1, refresh: str | None = RT1, **fields: Any) -> dict[str, Any]:
    """A token endpoint answer."""
    body: dict[str, Any] = {"token_type": "Bearer", **fields}
    if access is not None:
        body["access_token"] = access
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


def token(clock: FakeClock, access: str, refresh: str, seconds: float) -> Token:
    """A token whose access token expires ``seconds`` from the clock's now."""
    return Token(access, refresh, clock.now() + timedelta(seconds=seconds))


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True, strict_parsing=True)


def bearers(route: respx.Route) -> list[str | None]:
    return [call.request.headers.get("Authorization") for call in route.calls]


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=PLANTS_BODY)


def yielding(response: Callable[[], httpx.Response]) -> Callable[..., Any]:
    """An async respx side effect that lets other tasks run first, like a real network would."""

    async def side_effect(request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            await asyncio.sleep(0)
        return response()

    return side_effect


@pytest.fixture
def app(clock: FakeClock) -> OAuthApp:
    return OAuthApp(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT,
        scopes=("comfort.read", "comfort.write"),
        clock=clock,
        retry=RetryPolicy(jitter=0),
        transport=wire(),
        rng=random.Random(0),
    )


@asynccontextmanager
async def oauth_client(
    app: OAuthApp, store: TokenStore, **kwargs: Any
) -> AsyncIterator[tuple[LegrandClient, OAuth2Auth]]:
    auth = OAuth2Auth(app, store, **kwargs)
    async with LegrandClient(
        subscription_key=KEY,
        auth=auth,
        clock=app.clock,
        retry=RetryPolicy(jitter=0),
        transport=wire(),
        rng=random.Random(0),
    ) as client:
        yield client, auth


async def plant_ids(client: LegrandClient) -> list[str]:
    return [plant.id for plant in await client.smarther.list_plants()]


# --------------------------------------------------------------------------------------------
# 1. authorization_url
# --------------------------------------------------------------------------------------------


def test_authorization_url_exact_params(app: OAuthApp) -> None:
    url, state = app.authorization_url(state="state-given-42")
    assert state == "state-given-42"
    assert url.startswith(f"{AUTH_HOST}/authorize?")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "partners-login.eliotbylegrand.com",
        "/authorize",
    )
    assert parse_qs(parts.query, strict_parsing=True) == {
        "client_id": [CLIENT_ID],
        "response_type": ["code"],
        "state": ["state-given-42"],
        "redirect_uri": [REDIRECT],
        "scope": ["comfort.read comfort.write"],
    }
    assert not parts.fragment
    assert CLIENT_SECRET not in url


def test_authorization_url_encodes_an_unusual_state(app: OAuthApp) -> None:
    odd = "a b&c=d/é+%"
    url, state = app.authorization_url(state=odd)
    assert state == odd
    assert parse_qs(urlsplit(url).query)["state"] == [odd]


def test_authorization_url_generated_state_is_random_enough(app: OAuthApp) -> None:
    url, state = app.authorization_url()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", state), state  # >= 22 * 6 = 132 bits, URL-safe
    assert parse_qs(urlsplit(url).query)["state"] == [state]
    states = {app.authorization_url()[1] for _ in range(1000)}
    assert len(states) == 1000
    assert all(len(s) >= 22 for s in states)


def test_authorization_url_default_scopes(clock: FakeClock) -> None:
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT, clock=clock)
    assert app.scopes == DEFAULT_SCOPES
    url, _ = app.authorization_url(state="s")
    scope = parse_qs(urlsplit(url).query)["scope"]
    assert scope == [" ".join(DEFAULT_SCOPES)]
    assert {"comfort.read", "comfort.write"} <= set(scope[0].split(" "))


def test_authorization_url_without_scopes(clock: FakeClock) -> None:
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT, scopes=(), clock=clock)
    url, _ = app.authorization_url(state="s")
    assert "scope" not in parse_qs(urlsplit(url).query)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"client_id": ""}, ValueError),
        ({"client_secret": "  "}, ValueError),
        ({"redirect_uri": "app.example.org/callback"}, ValueError),
        ({"redirect_uri": "ftp://app.example.org/"}, ValueError),
        ({"scopes": "comfort.read"}, TypeError),
        ({"auth_url": "http://partners-login.eliotbylegrand.com"}, ValueError),
        ({"auth_url": "partners-login.eliotbylegrand.com"}, ValueError),
        ({"auth_url": "/token"}, ValueError),
        ({"auth_url": "ftp://partners-login.eliotbylegrand.com"}, ValueError),
        ({"auth_url": "https://partners-login.eliotbylegrand.com?p=1"}, ValueError),
        ({"auth_url": "https://"}, ValueError),
        ({"auth_url": "http://partners-login.eliotbylegrand.com", "transport": wire()}, ValueError),
        ({"auth_url": None}, TypeError),
        ({"auth_url": b"https://partners-login.eliotbylegrand.com"}, TypeError),
        ({"redirect_uri": "https://app.exa mple.org/callback"}, ValueError),
        ({"scopes": ["comfort.read", 3]}, TypeError),
        ({"scopes": ["comfort.read", " "]}, TypeError),
        ({"retry": {"max_attempts": 2}}, TypeError),
        ({"timeout": -1}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": "20"}, TypeError),
        ({"timeout": httpx.Timeout(5, read=-1)}, ValueError),
    ],
)
def test_oauth_app_bad_construction(kwargs: dict[str, Any], error: type[Exception]) -> None:
    arguments: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
        **kwargs,
    }
    with pytest.raises(error) as info:
        OAuthApp(**arguments)
    assert_no_secret(str(info.value))


# --------------------------------------------------------------------------------------------
# 2. exchange_code
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        REDIRECT + "?code={code}&state={state}",
        REDIRECT + "?state={state}&code={code}&session_state=xyz",
        REDIRECT + "#code={code}&state={state}",
        "  " + REDIRECT + "?code={code}&state={state}\n",
        "?code={code}&state={state}",
    ],
)
@pytest.mark.asyncio
async def test_exchange_code_whole_redirect(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, template: str
) -> None:
    route = router.post(TOKEN_URL).respond(
        json=grant(AT1, RT1, expires_in=3600, scope="comfort.read comfort.write")
    )
    _, state = app.authorization_url()
    redirect = template.format(code=CODE, state=state)

    got = await app.exchange_code(redirect, expected_state=state)

    assert got == Token(
        AT1, RT1, clock.now() + timedelta(seconds=3600), "comfort.read comfort.write"
    )
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "client_id": [CLIENT_ID],
        "grant_type": ["authorization_code"],
        "code": [CODE],
        "client_secret": [CLIENT_SECRET],
    }
    assert "Authorization" not in request.headers


@pytest.mark.asyncio
async def test_exchange_bare_code_without_expected_state(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post(TOKEN_URL).respond(json=grant(AT1, RT1, expires_in=1800))
    got = await app.exchange_code(CODE)
    assert (got.access_token, got.refresh_token) == (AT1, RT1)
    assert got.expires_at == clock.now() + timedelta(seconds=1800)
    assert form(route.calls.last.request)["code"] == [CODE]


@pytest.mark.asyncio
async def test_exchange_code_url_encoded_code(app: OAuthApp, router: respx.MockRouter) -> None:
    code = "CODE/with+odd=chars"
    route = router.post(TOKEN_URL).respond(json=grant())
    redirect = REDIRECT + "?" + urlencode({"code": code, "state": "s"})
    await app.exchange_code(redirect, expected_state="s")
    assert form(route.calls.last.request)["code"] == [code]


@pytest.mark.parametrize(
    ("redirect", "expected_state"),
    [
        (REDIRECT + f"?code={CODE}&state=forged-state", "state-sent"),
        (REDIRECT + f"?code={CODE}&state=state-sent-but-longer", "state-sent"),
        (REDIRECT + f"?code={CODE}", "state-sent"),  # no state in the redirect
        (CODE, "state-sent"),  # a bare code cannot be checked
    ],
)
@pytest.mark.asyncio
async def test_exchange_code_state_mismatch_sends_nothing(
    app: OAuthApp, router: respx.MockRouter, redirect: str, expected_state: str
) -> None:
    router.post(TOKEN_URL).respond(json=grant())
    exc = await raises(StateMismatch, app.exchange_code(redirect, expected_state=expected_state))
    assert isinstance(exc, AuthError)
    assert isinstance(exc, LegrandError)
    assert router.calls.call_count == 0


@pytest.mark.asyncio
async def test_exchange_code_sign_in_error_in_redirect(
    app: OAuthApp, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).respond(json=grant())
    query = {
        "error": "access_denied",
        "error_description": "AADB2C90091: The user has cancelled entering self-asserted info.",
        "state": "s",
    }
    redirect = REDIRECT + "?" + urlencode(query)
    exc = await raises(AuthError, app.exchange_code(redirect, expected_state="s"))
    assert exc.code == "access_denied"
    assert "access_denied" in str(exc)
    assert "cancelled" in str(exc)
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (REDIRECT + "?state=s", "no code"),
        (REDIRECT + "?code=&state=s", "no code"),
        (REDIRECT, "no code"),
        ("", "redirect URL"),
        ("   ", "redirect URL"),
    ],
)
@pytest.mark.asyncio
async def test_exchange_code_without_code_is_a_value_error(
    app: OAuthApp, router: respx.MockRouter, value: str, match: str
) -> None:
    router.post(TOKEN_URL).respond(json=grant())
    with pytest.raises(ValueError, match=match):
        await app.exchange_code(value)
    with pytest.raises(ValueError, match=match):
        await app.exchange_code(value, expected_state="s")
    assert router.calls.call_count == 0


# --------------------------------------------------------------------------------------------
# 3. Token parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "lifetime"),
    [
        (lambda epoch: {"expires_in": 1800}, 1800),
        (lambda epoch: {"expires_in": "1800"}, 1800),
        (lambda epoch: {"expires_on": epoch + 2700}, 2700),
        (lambda epoch: {"expires_on": str(epoch + 2700)}, 2700),
        (lambda epoch: {"expires_on": epoch + 2700, "expires_in": 60}, 2700),
        (lambda epoch: {"expires_on": str(epoch + 2700), "expires_in": "60"}, 2700),
        (lambda epoch: {}, 3600),
        (lambda epoch: {"expires_in": None, "expires_on": None}, 3600),
    ],
    ids=[
        "expires_in",
        "expires_in-str",
        "expires_on",
        "expires_on-str",
        "both-expires_on-wins",
        "both-str-expires_on-wins",
        "neither-3600",
        "nulls-3600",
    ],
)
@pytest.mark.asyncio
async def test_token_expiry_parsing(
    app: OAuthApp,
    router: respx.MockRouter,
    clock: FakeClock,
    fields: Callable[[int], dict[str, Any]],
    lifetime: int,
) -> None:
    epoch = int(clock.now().timestamp())
    router.post(TOKEN_URL).respond(json=grant(AT1, RT1, **fields(epoch)))
    got = await app.exchange_code(CODE)
    assert got.expires_at == clock.now() + timedelta(seconds=lifetime)
    assert got.expires_at.tzinfo is not None
    assert got.expires_at.utcoffset() == timedelta(0)
    assert got.scope is None


@pytest.mark.asyncio
async def test_token_scope_kept(app: OAuthApp, router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(
        json=grant(AT1, RT1, expires_in=3600, scope="comfort.read comfort.write", id_token="x.y.z")
    )
    got = await app.exchange_code(CODE)
    assert got.scope == "comfort.read comfort.write"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json=grant(access=None, expires_in=3600)),
        httpx.Response(200, json=grant(access="", expires_in=3600)),
        httpx.Response(200, json=grant(refresh=None, expires_in=3600)),  # a code grant needs one
        httpx.Response(200, json=[grant()]),
        httpx.Response(200, text="<html>Service unavailable</html>"),
        httpx.Response(200, text=""),
    ],
    ids=["no-access", "empty-access", "no-refresh", "array", "html", "empty"],
)
@pytest.mark.asyncio
async def test_token_response_invalid(
    app: OAuthApp, router: respx.MockRouter, response: httpx.Response
) -> None:
    router.post(TOKEN_URL).mock(return_value=response)
    exc = await raises(ResponseValidationError, app.exchange_code(CODE))
    assert isinstance(exc, LegrandError)


def test_token_expires_at_normalised_to_utc() -> None:
    plus_two = datetime(2026, 11, 21, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    got = Token(AT1, RT1, plus_two)
    assert got.expires_at == plus_two
    assert got.expires_at.utcoffset() == timedelta(0)
    assert got.expires_at == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        Token(AT1, RT1, datetime(2026, 11, 21, 12, 0))  # naive on purpose
    with pytest.raises(ValueError, match="access_token"):
        Token("", RT1, plus_two)


def test_token_json_round_trip(clock: FakeClock) -> None:
    original = Token(AT1, RT1, clock.now() + timedelta(seconds=10), "comfort.read")
    assert Token.from_json(original.to_json()) == original


# --------------------------------------------------------------------------------------------
# 4. Refresh and rotation
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_refresh_body_and_rotation(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post(TOKEN_URL).respond(json=grant(AT2, RT2, expires_in=3600))
    got = await app.refresh(RT1)
    assert got == Token(AT2, RT2, clock.now() + timedelta(seconds=3600))
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [RT1],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }


@pytest.mark.asyncio
async def test_refresh_without_rotation_keeps_the_refresh_token(
    app: OAuthApp, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).respond(json=grant(AT2, refresh=None, expires_in=3600))
    got = await app.refresh(RT1)
    assert (got.access_token, got.refresh_token) == (AT2, RT1)


@pytest.mark.asyncio
async def test_refresh_needs_a_refresh_token(app: OAuthApp, router: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="refresh_token"):
        await app.refresh("")
    assert router.calls.call_count == 0


@pytest.mark.asyncio
async def test_rotated_refresh_token_used_next_time(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=grant(AT2, RT2, expires_in=3600)),
            httpx.Response(200, json=grant(AT3, RT3, expires_in=3600)),
        ]
    )
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, -1))
    async with oauth_client(app, store) as (client, _):
        await plant_ids(client)
        clock.advance(3600)
        await plant_ids(client)
    assert [form(call.request)["refresh_token"] for call in refresh.calls] == [[RT1], [RT2]]
    assert bearers(data) == [f"Bearer {AT2}", f"Bearer {AT3}"]
    stored = await store.load()
    assert stored is not None
    assert (stored.access_token, stored.refresh_token) == (AT3, RT3)


@pytest.mark.asyncio
async def test_refresh_without_rotation_through_auth(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=grant(AT2, refresh=None, expires_in=3600)),
            httpx.Response(200, json=grant(AT3, refresh=None, expires_in=3600)),
        ]
    )
    router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, 0))
    async with oauth_client(app, store) as (client, _):
        await plant_ids(client)
        clock.advance(3600)
        await plant_ids(client)
    assert [form(call.request)["refresh_token"] for call in refresh.calls] == [[RT1], [RT1]]
    stored = await store.load()
    assert stored is not None
    assert (stored.access_token, stored.refresh_token) == (AT3, RT1)


# --------------------------------------------------------------------------------------------
# 5. Token endpoint errors
# --------------------------------------------------------------------------------------------


async def token_call(app: OAuthApp, operation: str) -> Token:
    if operation == "exchange":
        return await app.exchange_code(REDIRECT + f"?code={CODE}&state=s", expected_state="s")
    return await app.refresh(RT1)


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.parametrize(
    ("body", "expected", "code"),
    [
        (SEED_SECRET_EXPIRED, ClientSecretExpired, "AADB2C90085"),
        (CODE_EXPIRED, AuthorizationCodeExpired, "AADB2C90080"),
        (REPLY_URL_MISMATCH, RedirectUriMismatch, "invalid_request"),
        (GRANT_REVOKED, ReauthorizationRequired, "invalid_grant"),
        (
            {"error": "invalid_grant", "error_description": "The refresh token has expired."},
            ReauthorizationRequired,
            "invalid_grant",
        ),
    ],
    ids=["secret-expired", "code-expired", "reply-url", "revoked", "other-invalid-grant"],
)
@pytest.mark.asyncio
async def test_token_endpoint_refusals(
    app: OAuthApp,
    router: respx.MockRouter,
    clock: FakeClock,
    operation: str,
    body: dict[str, str],
    expected: type[AuthError],
    code: str,
) -> None:
    route = router.post(TOKEN_URL).respond(400, json=body)
    exc = await raises(expected, token_call(app, operation))
    assert type(exc) is expected
    assert isinstance(exc, AuthError)
    assert isinstance(exc, LegrandError)
    assert exc.status_code == 400
    assert exc.code == code
    assert route.call_count == 1  # a refusal is not retried
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_client_secret_expired_tells_where_to_renew(
    app: OAuthApp, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).respond(400, json=SEED_SECRET_EXPIRED)
    exc = await raises(ClientSecretExpired, app.refresh(RT1))
    assert SECRETS_PAGE in str(exc)
    assert "https://" + SECRETS_PAGE in str(exc)


@pytest.mark.asyncio
async def test_other_refusal_is_a_plain_auth_error(app: OAuthApp, router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(
        400, json={"error": "unsupported_grant_type", "error_description": "nope"}
    )
    exc = await raises(AuthError, app.refresh(RT1))
    assert (exc.status_code, exc.code) == (400, "unsupported_grant_type")
    assert "nope" in str(exc)


@pytest.mark.asyncio
async def test_token_429_retry_after_then_success(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "5"}, json={"message": "Too many"}),
            httpx.Response(200, json=grant(AT2, RT2, expires_in=3600)),
        ]
    )
    got = await app.refresh(RT1)
    assert got.access_token == AT2
    assert got.expires_at == clock.now() + timedelta(seconds=3600)
    assert clock.sleeps == [5.0]
    assert route.call_count == 2
    first, last = (form(call.request) for call in route.calls)
    assert first == last  # the same grant sent again


@pytest.mark.parametrize(
    ("headers", "sleeps", "retry_after"),
    [({"Retry-After": "2"}, [2.0, 2.0, 2.0], 2.0), ({}, [0.5, 1.0, 2.0], None)],
    ids=["retry-after", "backoff"],
)
@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.asyncio
async def test_token_429_every_attempt(
    app: OAuthApp,
    router: respx.MockRouter,
    clock: FakeClock,
    operation: str,
    headers: dict[str, str],
    sleeps: list[float],
    retry_after: float | None,
) -> None:
    route = router.post(TOKEN_URL).respond(
        429, headers=headers, json={"statusCode": 429, "message": "Rate limit is exceeded."}
    )
    exc = await raises(TokenRateLimited, token_call(app, operation))
    assert isinstance(exc, RateLimited)
    assert isinstance(exc, APIError)
    assert isinstance(exc, AuthError)
    assert isinstance(exc, LegrandError)
    assert exc.status_code == 429
    assert exc.code == 429
    assert exc.attempts == 4
    assert exc.retry_after == retry_after
    assert route.call_count == 4
    assert clock.sleeps == sleeps


@pytest.mark.asyncio
async def test_token_429_asking_too_long_a_wait_is_not_slept(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post(TOKEN_URL).respond(429, headers={"Retry-After": "3600"})
    exc = await raises(TokenRateLimited, app.refresh(RT1))
    assert exc.retry_after == 3600.0
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.asyncio
async def test_token_503_503_200(
    app: OAuthApp,
    router: respx.MockRouter,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    operation: str,
) -> None:
    route = router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(503, text="Service Unavailable"),
            httpx.Response(503, json={"error": "temporarily_unavailable"}),
            httpx.Response(200, json=grant(AT2, RT2, expires_in=3600)),
        ]
    )
    got = await token_call(app, operation)
    assert got.access_token == AT2
    assert clock.sleeps == [0.5, 1.0]
    assert route.call_count == 3
    # the log capture works (so the module-wide "no secret in the logs" check means something)
    assert any("retrying POST /token" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.asyncio
async def test_token_500_every_attempt(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, operation: str
) -> None:
    route = router.post(TOKEN_URL).respond(
        500,
        headers={"x-ms-request-id": "req-7e1"},
        json={"error": "server_error", "error_description": "Something went wrong"},
    )
    exc = await raises(TokenServerError, token_call(app, operation))
    assert isinstance(exc, ServerError)
    assert isinstance(exc, APIError)
    assert isinstance(exc, AuthError)
    assert isinstance(exc, LegrandError)
    assert exc.status_code == 500
    assert exc.code == "server_error"
    assert exc.attempts == 4
    assert exc.request_id == "req-7e1"
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_token_connect_error_retried(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post(TOKEN_URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=grant(AT2, RT2))]
    )
    assert (await app.refresh(RT1)).access_token == AT2
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.asyncio
async def test_token_read_timeout_not_retried(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    """The code may have been redeemed (or the refresh token rotated): never sent twice."""
    route = router.post(TOKEN_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    exc = await raises(TransportError, app.exchange_code(CODE))
    assert exc.attempts == 1
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.asyncio
async def test_token_errors_scrub_echoed_secrets(
    app: OAuthApp, router: respx.MockRouter, operation: str
) -> None:
    """A server echoing the request's secrets back does not put them in the error."""
    grant_value = CODE if operation == "exchange" else RT1
    echoed = f"grant {grant_value} of client {CLIENT_ID}:{CLIENT_SECRET} is not valid"
    router.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": echoed}
    )
    exc = await raises(ReauthorizationRequired, token_call(app, operation))
    assert "***" in str(exc)
    assert_no_secret(*error_texts(exc))


# --------------------------------------------------------------------------------------------
# 6. OAuth2Auth through LegrandClient
# --------------------------------------------------------------------------------------------


def test_oauth2_auth_bad_construction(app: OAuthApp) -> None:
    with pytest.raises(TypeError, match="OAuthApp"):
        OAuth2Auth("not an app", MemoryTokenStore())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refresh_margin"):
        OAuth2Auth(app, MemoryTokenStore(), refresh_margin=-1)


@pytest.mark.parametrize("store", [None, "token.json", object(), MemoryTokenStore])
def test_oauth2_auth_needs_a_token_store(app: OAuthApp, store: Any) -> None:
    with pytest.raises(TypeError, match="TokenStore"):
        OAuth2Auth(app, store)


@pytest.mark.parametrize("margin", [float("nan"), float("inf"), 1e20, "300", True])
def test_oauth2_auth_refuses_odd_margins(app: OAuthApp, margin: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="refresh_margin"):
        OAuth2Auth(app, MemoryTokenStore(), refresh_margin=margin)


@pytest.mark.parametrize(
    "auth_url",
    ["http://localhost:8080", "http://127.0.0.1:8080/", "http://[::1]:8080", "https://sso.local"],
)
def test_oauth_app_accepts_https_and_loopback_http(auth_url: str) -> None:
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT, auth_url=auth_url)
    assert app.auth_url == auth_url.rstrip("/")


@pytest.mark.parametrize("state", [123, b"state", ["state"]])
@pytest.mark.asyncio
async def test_exchange_code_non_str_expected_state_is_a_type_error(
    app: OAuthApp, router: respx.MockRouter, state: Any
) -> None:
    route = router.post(TOKEN_URL).respond(json=grant(AT1, RT1))
    with pytest.raises(TypeError, match="expected_state"):
        await app.exchange_code(f"{REDIRECT}?code={CODE}&state=123", expected_state=state)
    assert route.call_count == 0


@pytest.mark.asyncio
async def test_a_token_living_less_than_the_margin_is_refreshed_near_its_expiry(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    """A 60 s token with the default 300 s margin: refreshed in its last tenth, not per call."""
    refresh = router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=grant(AT2, RT2, expires_in=60)),
            httpx.Response(200, json=grant(AT3, RT3, expires_in=60)),
        ]
    )
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, -1))
    async with oauth_client(app, store) as (client, _):
        for _ in range(50):
            await plant_ids(client)
            clock.advance(1)
        assert refresh.call_count == 1
        clock.advance(5)  # 55 s after the refresh: within the last tenth of its life
        await plant_ids(client)
        assert refresh.call_count == 2
    assert bearers(data) == [f"Bearer {AT2}"] * 50 + [f"Bearer {AT3}"]


@pytest.mark.asyncio
async def test_valid_token_no_refresh(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = FaultyStore(token(clock, AT1, RT1, 3600))
    assert isinstance(store, TokenStore)
    async with oauth_client(app, store) as (client, _):
        assert await plant_ids(client) == [PLANT]
        assert await plant_ids(client) == [PLANT]
    assert bearers(data) == [f"Bearer {AT1}"] * 2
    assert data.calls.last.request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert refresh.call_count == 0
    assert store.loads == 1  # loaded once, then kept in memory
    assert store.saved == []


@pytest.mark.parametrize("seconds_left", [299, 120, 1, 0, -60, -86400])
@pytest.mark.asyncio
async def test_expiring_token_refreshed_first(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, seconds_left: int
) -> None:
    events: list[tuple[str, ...]] = []
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2, expires_in=3600))

    def data_ok(request: httpx.Request) -> httpx.Response:
        events.append(("data", request.headers["Authorization"]))
        return ok(request)

    data = router.get(PLANTS_URL).mock(side_effect=data_ok)
    store = FaultyStore(token(clock, AT1, RT1, seconds_left), events)
    async with oauth_client(app, store) as (client, auth):
        await plant_ids(client)
    assert refresh.call_count == 1
    assert form(refresh.calls.last.request)["refresh_token"] == [RT1]
    assert bearers(data) == [f"Bearer {AT2}"]
    assert events == [("save", AT2, RT2), ("data", f"Bearer {AT2}")]
    assert store.token == Token(AT2, RT2, clock.now() + timedelta(seconds=3600))
    assert (await auth.token()).access_token == AT2


@pytest.mark.parametrize(
    ("margin", "seconds_left"), [(0.0, 299), (0.0, 1), (300.0, 301), (60.0, 61)]
)
@pytest.mark.asyncio
async def test_token_outside_margin_not_refreshed(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, margin: float, seconds_left: int
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, seconds_left))
    async with oauth_client(app, store, refresh_margin=margin) as (client, _):
        await plant_ids(client)
    assert refresh.call_count == 0
    assert bearers(data) == [f"Bearer {AT1}"]


@pytest.mark.asyncio
async def test_401_then_200_refreshes_once_and_resends(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2, expires_in=3600))
    data = router.get(PLANTS_URL).mock(
        side_effect=[
            httpx.Response(401, json=TOKEN_INVALID_401),
            httpx.Response(200, json=PLANTS_BODY),
        ]
    )
    store = FaultyStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        assert await plant_ids(client) == [PLANT]
    assert refresh.call_count == 1
    assert form(refresh.calls.last.request)["refresh_token"] == [RT1]
    assert bearers(data) == [f"Bearer {AT1}", f"Bearer {AT2}"]
    assert [t.access_token for t in store.saved] == [AT2]
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_401_twice_raises_after_one_refresh(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2, expires_in=3600))
    data = router.get(PLANTS_URL).respond(401, json=TOKEN_INVALID_401)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        exc = await raises(Unauthorized, client.smarther.list_plants())
        assert exc.status_code == 401
        assert refresh.call_count == 1
        assert bearers(data) == [f"Bearer {AT1}", f"Bearer {AT2}"]
        # the next call uses the refreshed token, and again refreshes at most once
        await raises(Unauthorized, client.smarther.list_plants())
    assert refresh.call_count == 2
    assert data.call_count == 4


@pytest.mark.asyncio
async def test_401_about_the_subscription_key_does_not_refresh(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    data = router.get(PLANTS_URL).respond(401, json=SUBSCRIPTION_KEY_401)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        exc = await raises(Unauthorized, client.smarther.list_plants())
    assert "subscription key" in str(exc)
    assert refresh.call_count == 0
    assert data.call_count == 1


@pytest.mark.asyncio
async def test_401_with_the_gateway_s_quota_text_does_not_refresh(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    """A refresh would rotate the login for nothing: the quota is spent, not the token."""
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    quota = {
        "statusCode": 401,
        "message": "Out of call volume quota. Quota will be replenished in 01:00:00.",
    }
    data = router.get(PLANTS_URL).respond(401, json=quota)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        exc = await raises(QuotaExhausted, client.smarther.list_plants())
    assert exc.status_code == 401
    assert refresh.call_count == 0
    assert data.call_count == 1
    assert (await store.load()).refresh_token == RT1


def test_scopes_from_a_generator_are_kept(clock: FakeClock) -> None:
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT, scopes=(s for s in ("comfort.read",)))
    assert app.scopes == ("comfort.read",)


@pytest.mark.asyncio
async def test_401_then_refresh_refused(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post(TOKEN_URL).respond(400, json=GRANT_REVOKED)
    data = router.get(PLANTS_URL).respond(401, json=TOKEN_INVALID_401)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        await raises(ReauthorizationRequired, client.smarther.list_plants())
    assert data.call_count == 1


@pytest.mark.parametrize("network_delay", [False, True])
@pytest.mark.asyncio
async def test_200_concurrent_calls_on_expired_token_refresh_once(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, network_delay: bool
) -> None:
    def answer() -> httpx.Response:
        return httpx.Response(200, json=grant(AT2, RT2, expires_in=3600))

    refresh = router.post(TOKEN_URL).mock(
        side_effect=yielding(answer) if network_delay else lambda request: answer()
    )
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = FaultyStore(token(clock, AT1, RT1, -10))
    async with oauth_client(app, store) as (client, _):
        results = await asyncio.gather(*(plant_ids(client) for _ in range(200)))
    assert results == [[PLANT]] * 200
    assert refresh.call_count == 1
    assert data.call_count == 200
    assert set(bearers(data)) == {f"Bearer {AT2}"}
    assert [t.access_token for t in store.saved] == [AT2]


@pytest.mark.asyncio
async def test_200_concurrent_calls_after_expiry_in_memory_refresh_once(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).mock(
        side_effect=yielding(lambda: httpx.Response(200, json=grant(AT2, RT2, expires_in=3600)))
    )
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        await plant_ids(client)
        clock.advance(3600)
        await asyncio.gather(*(plant_ids(client) for _ in range(200)))
    assert refresh.call_count == 1
    assert bearers(data) == [f"Bearer {AT1}"] + [f"Bearer {AT2}"] * 200


@pytest.mark.asyncio
async def test_200_concurrent_401s_refresh_once(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).mock(
        side_effect=yielding(lambda: httpx.Response(200, json=grant(AT2, RT2, expires_in=3600)))
    )

    revoked: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] in revoked:
            return httpx.Response(401, json=TOKEN_INVALID_401)
        return ok(request)

    data = router.get(PLANTS_URL).mock(side_effect=answer)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        await plant_ids(client)
        revoked.add(f"Bearer {AT1}")  # the cloud drops the (unexpired) token
        results = await asyncio.gather(*(plant_ids(client) for _ in range(200)))
    assert results == [[PLANT]] * 200
    assert refresh.call_count == 1
    assert data.call_count == 1 + 200 + 200
    assert bearers(data).count(f"Bearer {AT2}") == 200


@pytest.mark.asyncio
async def test_refresh_5xx_retried_then_data_call(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json=grant(AT2, RT2, expires_in=3600)),
        ]
    )
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, 10))
    async with oauth_client(app, store) as (client, _):
        assert await plant_ids(client) == [PLANT]
    assert refresh.call_count == 3
    assert clock.sleeps == [0.5, 1.0]
    assert bearers(data) == [f"Bearer {AT2}"]


@pytest.mark.asyncio
async def test_refresh_server_error_reaches_the_data_call(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post(TOKEN_URL).respond(500)
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, -1))
    async with oauth_client(app, store) as (client, _):
        exc = await raises(TokenServerError, client.smarther.list_plants())
    assert exc.attempts == 4
    assert data.call_count == 0


@pytest.mark.asyncio
async def test_200_concurrent_calls_refresh_fails_once(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    """The callers waiting on a failed refresh share its error (the refresh takes some time, as
    on a real network: callers arriving after it failed would try again)."""
    refresh = router.post(TOKEN_URL).mock(
        side_effect=yielding(lambda: httpx.Response(400, json=SEED_SECRET_EXPIRED))
    )
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, -10))
    async with oauth_client(app, store) as (client, _):
        results = await asyncio.gather(
            *(plant_ids(client) for _ in range(200)), return_exceptions=True
        )
    assert all(isinstance(r, ClientSecretExpired) for r in results), {type(r) for r in results}
    RAISED.extend(r for r in results if isinstance(r, BaseException))
    assert refresh.call_count == 1
    assert data.call_count == 0


@pytest.mark.parametrize("trigger", ["expiry", "401"])
@pytest.mark.asyncio
async def test_rotated_token_saved_before_it_is_used(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, trigger: str
) -> None:
    events: list[tuple[str, ...]] = []

    async def refresh_answer(request: httpx.Request) -> httpx.Response:
        events.append(("refresh", form(request)["refresh_token"][0]))
        await asyncio.sleep(0)
        return httpx.Response(200, json=grant(AT2, RT2, expires_in=3600))

    def data_answer(request: httpx.Request) -> httpx.Response:
        bearer = request.headers["Authorization"]
        events.append(("data", bearer))
        if trigger == "401" and bearer == f"Bearer {AT1}":
            return httpx.Response(401, json=TOKEN_INVALID_401)
        return ok(request)

    router.post(TOKEN_URL).mock(side_effect=refresh_answer)
    router.get(PLANTS_URL).mock(side_effect=data_answer)
    seconds_left = 10 if trigger == "expiry" else 3600
    store = FaultyStore(token(clock, AT1, RT1, seconds_left), events)
    async with oauth_client(app, store) as (client, _):
        await asyncio.gather(*(plant_ids(client) for _ in range(5)))
    saved = events.index(("save", AT2, RT2))
    first_use = events.index(("data", f"Bearer {AT2}"))
    assert events.index(("refresh", RT1)) < saved < first_use
    assert events.count(("save", AT2, RT2)) == 1


@pytest.mark.asyncio
async def test_failed_save_keeps_the_new_token_in_memory(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that cannot be written loses nothing: the rotated token is used, kept and saved
    by the next save; the failure is a WARNING (no secret) and ``auth.store_error``."""
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2, expires_in=3600))
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = FaultyStore(token(clock, AT1, RT1, -1))
    store.fail_save = OSError(28, "No space left on device")
    async with oauth_client(app, store) as (client, auth):
        assert await plant_ids(client) == [PLANT]
        assert isinstance(auth.store_error, OSError)
        assert await plant_ids(client) == [PLANT]  # within SAVE_RETRY: no new save attempt
        store.fail_save = None
        clock.advance(61)  # the save is tried again, without a new refresh
        assert await plant_ids(client) == [PLANT]
        assert auth.store_error is None
    assert refresh.call_count == 1
    assert bearers(data) == [f"Bearer {AT2}"] * 3
    assert [(t.access_token, t.refresh_token) for t in store.saved] == [(AT2, RT2)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0].getMessage()


@pytest.mark.asyncio
async def test_empty_store_requires_sign_in(app: OAuthApp, router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    router.get(PLANTS_URL).mock(side_effect=ok)
    async with oauth_client(app, MemoryTokenStore()) as (client, auth):
        exc = await raises(ReauthorizationRequired, client.smarther.list_plants())
        await raises(ReauthorizationRequired, auth.token())
    assert isinstance(exc, AuthError)
    assert router.calls.call_count == 0


@pytest.mark.asyncio
async def test_newer_token_in_store_used_without_refresh(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = FaultyStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        await plant_ids(client)
        # another process refreshed and saved its token; ours then expires
        other = token(clock, AT_OTHER, RT_OTHER, 7200)
        await store.save(other)
        clock.advance(3600)
        await plant_ids(client)
        await plant_ids(client)
    assert refresh.call_count == 0
    assert bearers(data) == [f"Bearer {AT1}", f"Bearer {AT_OTHER}", f"Bearer {AT_OTHER}"]
    assert store.saved == [other]  # only the other process's save: no refresh, no save


@pytest.mark.asyncio
async def test_newer_token_in_store_used_after_401_without_refresh(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    refresh = router.post(TOKEN_URL).respond(json=grant(AT2, RT2))
    revoked: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] in revoked:
            return httpx.Response(401, json=TOKEN_INVALID_401)
        return ok(request)

    data = router.get(PLANTS_URL).mock(side_effect=answer)
    store = MemoryTokenStore(token(clock, AT1, RT1, 3600))
    async with oauth_client(app, store) as (client, _):
        await plant_ids(client)
        # another process refreshed (saving its token) and the cloud revoked ours
        await store.save(token(clock, AT_OTHER, RT_OTHER, 3600))
        revoked.add(f"Bearer {AT1}")
        assert await plant_ids(client) == [PLANT]
        assert await plant_ids(client) == [PLANT]
    assert refresh.call_count == 0
    assert bearers(data) == [
        f"Bearer {AT1}",
        f"Bearer {AT1}",
        f"Bearer {AT_OTHER}",
        f"Bearer {AT_OTHER}",
    ]


@pytest.mark.asyncio
async def test_a_leader_cancelled_by_asyncio_completes_its_refresh_for_the_follower(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    """``task.cancel()`` (asyncio's own cancellation, which anyio's shield does not stop) of
    the task whose refresh is on the wire: the refresh still completes and the follower uses
    it; RT1 is never sent twice (the old behaviour, which a rotating server refuses)."""
    gate = asyncio.Event()
    started = asyncio.Event()
    sent: list[str] = []

    async def refresh_answer(request: httpx.Request) -> httpx.Response:
        sent.append(form(request)["refresh_token"][0])
        started.set()
        await gate.wait()
        return httpx.Response(200, json=grant(AT2, RT2, expires_in=3600))

    refresh = router.post(TOKEN_URL).mock(side_effect=refresh_answer)
    data = router.get(PLANTS_URL).mock(side_effect=ok)
    store = MemoryTokenStore(token(clock, AT1, RT1, -1))
    async with oauth_client(app, store) as (client, _):
        leader = asyncio.create_task(plant_ids(client))
        await started.wait()
        follower = asyncio.create_task(plant_ids(client))
        for _ in range(5):
            await asyncio.sleep(0)
        leader.cancel()
        gate.set()
        assert await asyncio.wait_for(follower, 5) == [PLANT]
        with pytest.raises(asyncio.CancelledError):
            await leader
    assert sent == [RT1]
    assert refresh.call_count == 1
    assert bearers(data) == [f"Bearer {AT2}"]
    assert (await store.load()) == token(clock, AT2, RT2, 3600)


def test_oauth2_auth_is_async_only(app: OAuthApp, clock: FakeClock) -> None:
    auth = OAuth2Auth(app, MemoryTokenStore(token(clock, AT1, RT1, 3600)))
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with (
        httpx.Client(auth=auth, transport=transport) as http,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        http.get(PLANTS_URL)


# --------------------------------------------------------------------------------------------
# 7. Secrets in repr / str
# --------------------------------------------------------------------------------------------


def test_reprs_never_show_secrets(app: OAuthApp, clock: FakeClock) -> None:
    tok = Token(AT1, RT1, clock.now(), "comfort.read")
    store = MemoryTokenStore(tok)
    auth = OAuth2Auth(app, store)
    client = LegrandClient(subscription_key=KEY, auth=auth, transport=wire())
    texts = [repr(tok), str(tok), repr(app), str(app), repr(auth), str(auth), repr(store)]
    texts += [str(store), repr(MemoryTokenStore()), repr(client), f"{tok}", f"{tok!r}"]
    assert_no_secret(*texts)
    assert "***" in repr(tok)
    assert CLIENT_ID in repr(app)
    assert "client_secret='***'" in repr(app)
    assert "OAuth2Auth" in repr(auth)


@pytest.mark.asyncio
async def test_api_error_scrubs_echoed_bearer_and_key(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    echoed = {"statusCode": 401, "message": f"token {AT1} or key {KEY} rejected"}
    router.get(PLANTS_URL).respond(401, json=SUBSCRIPTION_KEY_401 | {"detail": echoed["message"]})
    async with oauth_client(app, MemoryTokenStore(token(clock, AT1, RT1, 3600))) as (client, _):
        exc = await raises(Unauthorized, client.smarther.list_plants())
    assert_no_secret(*error_texts(exc))


@pytest.mark.asyncio
async def test_refused_refresh_token_is_not_sent_again() -> None:
    """After a permanent refusal, later calls fail fast until the store holds a new login."""
    clock = FakeClock()
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT, clock=clock)
    expired = Token(AT1, RT1, clock.now() - timedelta(seconds=1))
    store = MemoryTokenStore(expired)
    auth = OAuth2Auth(app, store)
    with respx.mock(assert_all_called=False) as router:
        token_route = router.post(TOKEN_URL).respond(400, json=SEED_SECRET_EXPIRED)
        for _ in range(3):
            with pytest.raises(ClientSecretExpired):
                await auth.token()
        assert token_route.call_count == 1
        await store.save(Token(AT2, RT2, clock.now() + timedelta(hours=1)))
        assert (await auth.token()).access_token == AT2
