"""Secrets whatever characters they hold: refused where they enter when they could split a
header or a log line or hide in a terminal (Unicode separators, format characters,
surrogates; anything but printable ASCII in a header), and never shown when they are odd but
valid (regex metacharacters, percent-encoding, Unicode, very long), however a server or
httpx echoes them.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
import respx

from legrand_async import (
    AuthError,
    FileTokenStore,
    LegrandClient,
    OAuthApp,
    RetryPolicy,
    StaticToken,
    Token,
    TokenStoreError,
    TransportError,
)
from legrand_async.cli import main

from .conftest import TOKEN_URL, FakeClock, wire
from .test_token_answers import EchoingTransport

REDIRECT = "https://app.example.org/callback"
NOW = FakeClock().now()

#: Characters no secret may hold, wherever it goes.
UNSAFE = {
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "zero-width-space": "\u200b",
    "bidi-override": "\u202e",
    "bom": "\ufeff",
    "lone-surrogate": "\ud800",
    "private-use": "\ue000",
    "unassigned": "\u0378",
    "next-line": "\u0085",
    "escape": "\x1b",
}
#: ... and what a header cannot carry besides.
NOT_FOR_HEADERS = {"e-acute": "\u00e9", "no-break-space": "\u00a0", "cjk": "\u5bc6"}


def said(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def entries(value: str) -> dict[str, object]:
    """Every constructor a secret enters by, with ``value`` as that secret."""
    return {
        "Token.access_token": lambda: Token(value, "RT-ok-1", NOW),
        "Token.refresh_token": lambda: Token("AT-ok-1", value, NOW),
        "OAuthApp.client_secret": lambda: OAuthApp("client-1", value, REDIRECT),
        "LegrandClient.subscription_key": lambda: LegrandClient(value, access_token="AT-ok-1"),
        "LegrandClient.access_token": lambda: LegrandClient("key-ok-1", access_token=value),
        "StaticToken": lambda: StaticToken(value),
    }


HEADER_ENTRIES = {"Token.access_token", "LegrandClient.subscription_key"}
HEADER_ENTRIES |= {"LegrandClient.access_token", "StaticToken"}


@pytest.mark.parametrize("char", list(UNSAFE.values()), ids=list(UNSAFE))
@pytest.mark.parametrize("entry", list(entries("x")))
def test_unsafe_characters_are_refused_at_every_entry(entry: str, char: str) -> None:
    secret = f"SECRET-{char}-tail-77"
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X} at position 7") as info:
        entries(secret)[entry]()  # type: ignore[operator]
    assert "SECRET-" not in said(info.value)
    assert "-tail-77" not in said(info.value)


@pytest.mark.parametrize("char", list(NOT_FOR_HEADERS.values()), ids=list(NOT_FOR_HEADERS))
@pytest.mark.parametrize("entry", list(entries("x")))
def test_what_a_header_cannot_carry_is_refused_before_any_request(entry: str, char: str) -> None:
    """Before, a subscription key with "é" failed on every call with a bare UnicodeEncodeError;
    the client secret and refresh token travel in a form, where they are fine."""
    secret = f"SECRET-{char}-tail-77"
    if entry not in HEADER_ENTRIES:
        entries(secret)[entry]()  # type: ignore[operator]
        return
    with pytest.raises(ValueError, match="position 7") as info:
        entries(secret)[entry]()  # type: ignore[operator]
    assert "SECRET-" not in said(info.value)


@pytest.mark.parametrize("char", list(UNSAFE.values()), ids=list(UNSAFE))
def test_a_token_file_holding_unsafe_characters_is_refused(char: str, tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    good = Token("AT-ok-1", "RT-ok-1", NOW).to_json()
    path.write_text(json.dumps({**good, "refresh_token": f"SECRET-{char}-tail-77"}))
    with pytest.raises(TokenStoreError) as info:
        FileTokenStore(path).load_sync()
    assert "SECRET-" not in said(info.value)


@pytest.mark.parametrize("field", ["client_secret", "Ocp-Apim-Subscription-Key", "refresh_token"])
def test_the_cli_refuses_an_imported_secret_with_a_line_separator(
    field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = {
        "client_id": "client-1",
        "client_secret": "SECRET-client-1",
        "redirect_uri": REDIRECT,
        "Ocp-Apim-Subscription-Key": "key-ok-1",
        "access_token": "Bearer AT-ok-1",
        "refresh_token": "RT-ok-1",
        "access_token_expires_on": 1_900_000_000,
        field: "SECRET-\u2028\r\n-tail-77",
    }
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(seed))  # JSON is YAML
    assert main(["login", "--config", str(tmp_path / "out"), "--import", str(config)]) == 1
    out, err = capsys.readouterr()
    assert "SECRET-" not in out + err
    assert "-tail-77" not in out + err
    assert not (tmp_path / "out").exists()  # nothing saved


# --------------------------------------------------------------------------------------------
# Odd but valid secrets, echoed by a server or by httpx


ODD_SECRETS = {
    "regex": r"S3cr.*+?^$(){}[]|\1-x",
    "percent": "S3cr%2F%0D%0A%00%25-x",
    "plus-and-space": "S3cr+et with=sign&amp-x",
    "unicode": "S3crét-ü-密码-x",
    "long": "S3cr-" + "x7" * 50_000,
}


def echoes(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]]


@pytest.mark.parametrize("name", list(ODD_SECRETS))
@pytest.mark.asyncio
async def test_an_odd_client_secret_echoed_by_the_token_endpoint_is_scrubbed(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = ODD_SECRETS[name]
    app = OAuthApp("client-1", secret, REDIRECT, transport=wire(), retry=RetryPolicy(jitter=0))
    echoed = " | ".join(echoes(secret))
    caplog.set_level(logging.DEBUG)
    with respx.mock() as router:
        router.post(TOKEN_URL).respond(
            400, json={"error": f"invalid_client {echoed}", "error_description": echoed}
        )
        with pytest.raises(AuthError) as info:
            await app.refresh("RT-ok-1")
    text = said(info.value) + str(info.value.code) + caplog.text
    for form in echoes(secret):
        assert form not in text
    assert secret[:12] not in text  # not even a cut one


@pytest.mark.parametrize("name", list(ODD_SECRETS))
@pytest.mark.asyncio
async def test_an_odd_client_secret_quoted_by_an_httpx_error_is_scrubbed(name: str) -> None:
    secret = ODD_SECRETS[name]
    app = OAuthApp(
        "client-1",
        secret,
        REDIRECT,
        transport=EchoingTransport(),
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(TransportError) as info:
        await app.refresh("RT-ok-1")
    for form in echoes(secret):
        assert form not in said(info.value)


@pytest.mark.parametrize("token", ["AT.*+?^$(){}[]|-x", "AT%2F%0D%0A%00-x", "AT-" + "q" * 100_000])
@pytest.mark.asyncio
async def test_an_odd_access_token_quoted_by_an_httpx_error_is_scrubbed(token: str) -> None:
    async with LegrandClient(
        "key-%0D%0A-odd",
        auth=StaticToken(token),
        transport=EchoingTransport(),
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.smarther.list_plants()
    for secret in (token, "key-%0D%0A-odd"):
        for form in echoes(secret):
            assert form not in said(info.value)


def test_a_long_token_is_checked_in_one_pass() -> None:
    """A 5 MB token is checked by str methods, not character by character (fast)."""
    token = Token("A" * 5_000_000, "R" * 5_000_000, NOW)
    assert repr(token).count("***") == 2


class _LongError(httpx.AsyncBaseTransport):
    """A connection error whose text is long, with a line break and ESC in it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused\r\n\x1b[31m" + "x" * 100_000, request=request)


@pytest.mark.asyncio
async def test_an_httpx_errors_text_is_cut_and_escaped_like_a_servers() -> None:
    async with LegrandClient(
        "key", access_token="token", transport=_LongError(), retry=RetryPolicy(max_attempts=1)
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.smarther.list_plants()
    text = str(info.value)
    assert "\r" not in text
    assert "\n" not in text
    assert "\x1b" not in text
    assert len(text) < 1_000  # not the 100,000 characters of the exception
