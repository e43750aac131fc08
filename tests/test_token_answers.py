"""Token answers a server should not send, secrets with control characters, echoed secrets.

Every odd answer is an ``AuthError`` subclass (never OverflowError, ValueError, RecursionError
or httpx.DecodingError); a secret never shows in a message, a traceback or a log line.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from legrand_async import (
    AuthError,
    FileTokenStore,
    InvalidTokenResponse,
    LegrandClient,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    RetryPolicy,
    Token,
    TokenStoreError,
    TransportError,
)

from .conftest import KEY, PLANT, PLANTS_URL, TOKEN_URL, FakeClock, wire

CLIENT_ID = "client-id-77ab"
CLIENT_SECRET = "SECRET-client-c0ffee"
REDIRECT = "https://app.example.org/callback"
AT1, RT1 = "AT-answers-one-41aa", "RT-answers-one-9b2c"
AT2, RT2 = "AT-answers-two-77de", "RT-answers-two-3f10"
CODE = "CODE-answers-5e5e"
SECRETS = (CLIENT_SECRET, AT1, RT1, AT2, RT2, CODE, KEY)


def no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in {text!r}"


def everything_said(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.fixture
def app(clock: FakeClock) -> OAuthApp:
    return OAuthApp(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT,
        clock=clock,
        transport=wire(),
        retry=RetryPolicy(jitter=0),
        rng=random.Random(0),
    )


# --------------------------------------------------------------------------------------------
# Odd token answers


def answer(**fields: Any) -> dict[str, Any]:
    return {"access_token": AT2, "refresh_token": RT2, "token_type": "Bearer", **fields}


ODD_BODIES: dict[str, bytes] = {
    "expires_in-1e300": json.dumps(answer(expires_in=1e300)).encode(),
    "expires_in-1e20": json.dumps(answer(expires_in=1e20)).encode(),
    "expires_in-milliseconds": json.dumps(answer(expires_in=3_600_000)).encode(),
    "expires_in-negative": json.dumps(answer(expires_in=-5)).encode(),
    "expires_in-zero": json.dumps(answer(expires_in=0)).encode(),
    "expires_in-text": json.dumps(answer(expires_in="soon")).encode(),
    "expires_in-bool": json.dumps(answer(expires_in=True)).encode(),
    "expires_in-list": json.dumps(answer(expires_in=[3600])).encode(),
    "expires_in-NaN": json.dumps(answer(expires_in=float("nan"))).encode(),  # JSON NaN literal
    "expires_in-huge-integer": json.dumps(answer()).encode()[:-1]
    + b', "expires_in": 1'
    + b"0" * 400
    + b"}",
    "expires_on-1e300": json.dumps(answer(expires_on=1e300)).encode(),
    "expires_on-1e20": json.dumps(answer(expires_on=1e20)).encode(),
    "expires_on-milliseconds": json.dumps(answer(expires_on=1_790_000_000_000)).encode(),
    "expires_on-negative": json.dumps(answer(expires_on=-1)).encode(),
    "expires_on-text": json.dumps(answer(expires_on="tomorrow")).encode(),
    "expires_on-past": json.dumps(answer(expires_on=1_000_000_000)).encode(),
    "access-blank": json.dumps(answer(access_token="   ")).encode(),
    "access-number": json.dumps(answer(access_token=12345)).encode(),
    "access-newline": json.dumps(answer(access_token=AT2 + "\nX-Injected: 1")).encode(),
    "access-nul": json.dumps(answer(access_token=AT2 + "\x00")).encode(),
    "refresh-blank": json.dumps(answer(refresh_token=" ")).encode(),
    "refresh-empty": json.dumps(answer(refresh_token="")).encode(),
    "refresh-del": json.dumps(answer(refresh_token=RT2 + "\x7f")).encode(),
    "access-line-separator": json.dumps(answer(access_token=AT2 + "\u2028x")).encode(),
    "refresh-paragraph-separator": json.dumps(answer(refresh_token=RT2 + "\u2029x")).encode(),
    "access-zero-width-space": json.dumps(answer(access_token=AT2 + "\u200bx")).encode(),
    "refresh-bidi-override": json.dumps(answer(refresh_token="\u202e" + RT2)).encode(),
    "access-bom": json.dumps(answer(access_token="\ufeff" + AT2)).encode(),
    "access-lone-surrogate": b'{"access_token": "AT-x\\ud800", "refresh_token": "RT-x"}',
    "access-not-ascii": json.dumps(answer(access_token=AT2 + "\u00e9")).encode(),
    "expires_in-Infinity": b'{"access_token": "AT-x", "refresh_token": "RT-x", "expires_in": '
    b"Infinity}",
    "expires_on--Infinity": b'{"access_token": "AT-x", "refresh_token": "RT-x", "expires_on": '
    b"-Infinity}",
    "expires_in-text-inf": json.dumps(answer(expires_in="inf")).encode(),
    "expires_in-text-huge": json.dumps(answer(expires_in="9" * 5000)).encode(),
    "expires_on-huge-integer": json.dumps(answer()).encode()[:-1]
    + b', "expires_on": '
    + b"9" * 5000
    + b"}",
    "nested-list": b"[" * 100_000 + b"]" * 100_000,
    "nested-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "not-json": b"<html>It works!</html>",
    "json-number": b"3600",
    "empty": b"",
}


@pytest.mark.parametrize("grant", ["code", "refresh"])
@pytest.mark.parametrize("name", list(ODD_BODIES))
@pytest.mark.asyncio
async def test_odd_token_answers_raise_auth_errors(
    app: OAuthApp, router: respx.MockRouter, name: str, grant: str
) -> None:
    router.post(TOKEN_URL).respond(
        200, content=ODD_BODIES[name], headers={"Content-Type": "application/json"}
    )
    with pytest.raises(AuthError) as info:
        await (app.exchange_code(CODE) if grant == "code" else app.refresh(RT1))
    assert isinstance(info.value, InvalidTokenResponse)
    no_secret(everything_said(info.value))


@pytest.mark.asyncio
async def test_a_body_claiming_gzip_that_is_not_is_an_auth_error(
    app: OAuthApp, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            stream=httpx.ByteStream(json.dumps(answer(expires_in=3600)).encode()),
        )
    )
    with pytest.raises(InvalidTokenResponse) as info:
        await app.refresh(RT1)
    no_secret(everything_said(info.value))


@pytest.mark.asyncio
async def test_a_real_gzip_answer_still_works(app: OAuthApp, router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(
        200,
        content=gzip.compress(json.dumps(answer(expires_in=3600)).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (await app.refresh(RT1)).access_token == AT2


@pytest.mark.asyncio
async def test_a_gzip_bomb_from_the_token_endpoint_is_an_auth_error(
    app: OAuthApp, router: respx.MockRouter
) -> None:
    """8 MiB of access token in 8 KiB of gzip: refused at the cap, not inflated whole."""
    body = json.dumps(answer(access_token="A" * (8 * 1024 * 1024), expires_in=3600))
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            stream=httpx.ByteStream(gzip.compress(body.encode())),
        )
    )
    with pytest.raises(AuthError):
        await app.refresh(RT1)


@pytest.mark.parametrize(
    ("fields", "seconds"),
    [({"expires_in": "3600"}, 3600), ({"expires_in": 86_400}, 86_400), ({}, 3600)],
)
@pytest.mark.asyncio
async def test_sane_expiries_are_kept(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, fields: Any, seconds: int
) -> None:
    router.post(TOKEN_URL).respond(200, json=answer(**fields))
    token = await app.refresh(RT1)
    assert token.expires_at == clock.now() + timedelta(seconds=seconds)


@pytest.mark.asyncio
async def test_a_wrong_clock_s_expires_on_gives_way_to_expires_in(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    past = clock.now().timestamp() - 7200  # our clock runs two hours ahead of the server's
    router.post(TOKEN_URL).respond(200, json=answer(expires_on=past + 3600, expires_in=3600))
    token = await app.refresh(RT1)
    assert token.expires_at == clock.now() + timedelta(seconds=3600)


def b2c_answer(now: float, *, as_text: bool) -> dict[str, Any]:
    """Every field Azure AD B2C sends (REFERENCE.md section 2.4 and 10a); times as text too."""

    def number(value: int) -> int | str:
        return str(value) if as_text else value

    return answer(
        id_token="eyJhbGciOiJub25lIn0.eyJ2ZXIiOiIxLjAifQ.sig",
        not_before=number(int(now)),
        expires_in=3600,
        expires_on=number(int(now) + 3600),
        resource=CLIENT_ID,
        id_token_expires_in=3600,
        profile_info="eyJ2ZXIiOiIxLjAiLCJ0aWQiOiJ0In0",
        scope="comfort.read comfort.write",
        refresh_token_expires_in=7_776_000,
    )


@pytest.mark.parametrize("as_text", [False, True], ids=["numbers", "text"])
@pytest.mark.asyncio
async def test_a_full_b2c_answer_is_accepted(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock, as_text: bool
) -> None:
    router.post(TOKEN_URL).respond(200, json=b2c_answer(clock.now().timestamp(), as_text=as_text))
    token = await app.refresh(RT1)
    assert (token.access_token, token.refresh_token) == (AT2, RT2)
    assert token.expires_at == clock.now().replace(microsecond=0) + timedelta(seconds=3600)
    assert token.scope == "comfort.read comfort.write"


@pytest.mark.asyncio
async def test_the_simulator_s_token_answer_has_what_b2c_sends_and_is_accepted() -> None:
    from legrand_async.simulator import Simulator

    sim = Simulator.fleet(plants=1, clock=FakeClock())
    issued = sim.app.issue_token()
    assert set(issued) == set(b2c_answer(0, as_text=False)) | {"token_type"}
    assert issued["expires_on"] == issued["not_before"] + issued["expires_in"]
    assert issued["resource"] == sim.client_id
    token = await sim.sign_in()
    assert token.expires_at == sim.clock.now() + timedelta(seconds=3600)


@pytest.mark.asyncio
async def test_a_deeply_nested_error_body_is_an_auth_error(
    app: OAuthApp, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).respond(400, content=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(AuthError):
        await app.refresh(RT1)


@pytest.mark.asyncio
async def test_an_odd_answer_fails_the_data_call_with_that_auth_error(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post(TOKEN_URL).respond(200, json=answer(expires_in=1e300))
    data = router.get(PLANTS_URL).respond(200, json={"plants": [{"id": PLANT, "name": "x"}]})
    store = MemoryTokenStore(Token(AT1, RT1, clock.now() - timedelta(seconds=1)))
    auth = OAuth2Auth(app, store)
    async with LegrandClient(KEY, auth=auth, transport=wire(), clock=clock) as client:
        with pytest.raises(InvalidTokenResponse):
            await client.smarther.list_plants()
    assert data.call_count == 0
    assert (await store.load()).access_token == AT1  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [400, 401, 429, 503])
@pytest.mark.asyncio
async def test_a_refusal_s_text_cannot_forge_a_log_line_or_leak_a_secret(
    app: OAuthApp, router: respx.MockRouter, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's error code and description quote the refresh token and client secret and
    hold CR, LF and terminal escapes: the error's message and ``.code`` show neither."""
    router.post(TOKEN_URL).respond(
        status,
        json={
            "error": f"invalid_grant {RT1}\r\nX-Forged: 1",
            "error_description": f"bad \x1b[31mgrant\r\n2026-01-01 WARNING {CLIENT_SECRET}\u2028",
        },
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as info:
        await app.refresh(RT1)
    error = info.value
    for text in (str(error), str(error.code)):
        assert not any(char in text for char in "\r\n\x1b\u2028"), text
    no_secret(everything_said(error), str(error.code), caplog.text)


@pytest.mark.asyncio
async def test_an_odd_scope_is_dropped_and_a_token_with_one_is_refused(
    app: OAuthApp, router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post(TOKEN_URL).respond(200, json=answer(scope="comfort.read\r\nX-Forged: 1"))
    token = await app.refresh(RT1)
    assert token.access_token == AT2
    assert token.scope is None
    with pytest.raises(ValueError, match="scope"):
        Token(AT1, RT1, clock.now(), "comfort.read\n")


# --------------------------------------------------------------------------------------------
# Control characters, refused where they enter


CONTROL = ["\r", "\n", "\x00", "\x7f", "\x1b", "\x85", "\t"]


@pytest.mark.parametrize("char", CONTROL)
def test_control_characters_in_secrets_are_refused_where_they_enter(
    char: str, tmp_path: Path
) -> None:
    attempts = [
        lambda: Token(f"{AT1}{char}x", RT1, FakeClock().now()),
        lambda: Token(AT1, f"{RT1}{char}x", FakeClock().now()),
        lambda: OAuthApp(CLIENT_ID, f"{CLIENT_SECRET}{char}x", REDIRECT),
        lambda: LegrandClient(f"{KEY}{char}x", access_token=AT1, transport=wire()),
        lambda: LegrandClient(KEY, access_token=f"{AT1}{char}x", transport=wire()),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match="control character") as info:
            attempt()
        no_secret(everything_said(info.value))


@pytest.mark.parametrize("char", CONTROL)
def test_a_token_file_with_control_characters_is_refused(char: str, tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    good = Token(AT1, RT1, FakeClock().now()).to_json()
    path.write_text(json.dumps({**good, "access_token": f"{AT1}{char}X-Injected: 1"}))
    with pytest.raises(TokenStoreError, match="control character") as info:
        FileTokenStore(path).load_sync()
    no_secret(everything_said(info.value))


# --------------------------------------------------------------------------------------------
# Echoed secrets in httpx exceptions


class EchoingTransport(httpx.AsyncBaseTransport):
    """A transport whose connection error quotes the whole request, as a debugging proxy might."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        raise httpx.ConnectError(
            f"cannot send {dict(request.headers)!r} {content!r} {content.decode()}",
            request=request,
        )


@pytest.mark.asyncio
async def test_a_data_call_s_transport_error_is_scrubbed(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with LegrandClient(
        KEY, access_token=AT1, transport=EchoingTransport(), retry=RetryPolicy(max_attempts=1)
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.smarther.list_plants()
    assert "ConnectError" in str(info.value)
    assert "***" in str(info.value)
    no_secret(everything_said(info.value), caplog.text)


@pytest.mark.parametrize("grant", ["code", "refresh"])
@pytest.mark.asyncio
async def test_a_token_request_s_transport_error_is_scrubbed(
    clock: FakeClock, grant: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = OAuthApp(
        CLIENT_ID,
        "SECRET+with/odd=chars c0ffee",  # URL-encoded differently in the form body
        REDIRECT,
        clock=clock,
        transport=EchoingTransport(),
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(TransportError) as info:
        await (app.exchange_code(CODE) if grant == "code" else app.refresh(RT1))
    said = everything_said(info.value)
    no_secret(said, caplog.text)
    for form in ("SECRET+with/odd=chars c0ffee", "SECRET%2Bwith%2Fodd%3Dchars+c0ffee"):
        assert form not in said


class BareHeaderAuth(httpx.Auth):
    """A caller's own auth that puts a token with a newline in the header (not checked)."""

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {AT2}\r\nX-Evil: 1"
        yield request


@pytest.mark.asyncio
async def test_a_header_refused_by_httpx_is_scrubbed_from_the_error(clock: FakeClock) -> None:
    """h11 refuses the header and quotes it (as bytes) in its error: that text is scrubbed."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with LegrandClient(
            KEY,
            auth=BareHeaderAuth(),
            base_url=f"http://127.0.0.1:{port}",
            retry=RetryPolicy(max_attempts=1),
        ) as client:
            with pytest.raises(TransportError) as info:
                await client.smarther.list_plants()
    finally:
        server.close()
        await server.wait_closed()
    assert "LocalProtocolError" in str(info.value)
    no_secret(everything_said(info.value))
