"""A server that echoes the request's secrets in every form it can: none reaches an error.

The subscription key and the bearer token come back percent-encoded (upper or lower case,
every character or some), JSON-escaped (``\\u0041``, or split across escapes), repr-escaped,
in keys, codes, request ids, reason phrases, bodies nested too deep to parse, quota answers,
and in what the converter says about a body that does not fit. Checked: ``str``, ``repr``,
``args``, every attribute, and the traceback a logger would print (causes included).
"""

from __future__ import annotations

import json
import logging
import random
import traceback
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async import LegrandClient, RateLimit, RetryPolicy
from legrand_async._responses import error_from_response
from legrand_async._secrets import scrub, scrub_json
from legrand_async.errors import LegrandError

from .conftest import MODULE, PLANT, FakeClock, through_the_stack
from .wire_server import Connection, serve

# Secrets with regex metacharacters, a backslash, percent signs and quotes.
KEY = "k.e*y+(1)?[x]|^$%41"
TOKEN = 'tok-\\d+"secret"{2}'
QUOTA = "Out of call volume quota. Quota will be replenished in 02:00:00."


def _escape(char: str) -> str:
    """``char`` as JSON escapes: ``\\uXXXX``, a surrogate pair beyond the BMP."""
    return json.dumps(char)[1:-1] if ord(char) > 0x7F else f"\\u{ord(char):04x}"


def json_escaped(text: str, every: int = 1) -> str:
    """``text`` as a JSON string body, every ``every``-th character escaped."""
    return "".join(
        _escape(c) if i % every == 0 else json.dumps(c, ensure_ascii=False)[1:-1]
        for i, c in enumerate(text)
    )


def percent(text: str, *, lower: bool = False, every: int = 1) -> str:
    """``text`` with every ``every``-th character percent-encoded (its UTF-8 bytes), the rest
    as JSON string text."""
    out = "".join(
        "".join(f"%{b:02X}" for b in c.encode())
        if i % every == 0
        else json.dumps(c, ensure_ascii=False)[1:-1]
        for i, c in enumerate(text)
    )
    return out.lower() if lower else out


FORMS = {
    "as is": lambda s: json.dumps(s)[1:-1],
    "json-escaped": json_escaped,
    "half json-escaped": lambda s: json_escaped(s, 2),
    "percent": percent,
    "percent, lower case": lambda s: percent(s, lower=True),
    "some characters percent-encoded": lambda s: percent(s, every=3),
    "percent-encoded twice": lambda s: percent(percent(s)),
    "percent inside json escapes": lambda s: json_escaped(percent(s), 2),
}


def leaks(error: BaseException, forms: list[str]) -> list[str]:
    """Where any of ``forms`` (or a secret itself) shows in what the error exposes."""
    texts = {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "traceback": "".join(traceback.format_exception(error)),
    }
    for name, value in vars(error).items():
        texts[f".{name}"] = value if isinstance(value, str) else repr(value)
    needles = [KEY, TOKEN, repr(KEY)[1:-1], repr(TOKEN)[1:-1], *forms]
    return [where for where, text in texts.items() if any(n in text for n in needles)]


class Echo(httpx.AsyncBaseTransport):
    """Answers with ``answer(key_form, token_form)``: status, body, headers."""

    def __init__(self) -> None:
        self.status = 400
        self.body = b""
        self.headers: dict[str, str] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, stream=httpx.ByteStream(self.body))


def client_of(wire: httpx.AsyncBaseTransport, **kwargs: Any) -> LegrandClient:
    kwargs.setdefault("rate_limit", None)
    return LegrandClient(
        KEY, access_token=TOKEN, transport=wire, clock=FakeClock(), rng=random.Random(0),
        retry=RetryPolicy(max_attempts=1), **kwargs
    )


def bodies(key: str, token: str) -> dict[str, tuple[int, str, dict[str, str]]]:
    """Answers echoing the secrets' forms ``key`` and ``token`` (as they appear in JSON text)."""
    deep = "[" * 100 + "]" * 100
    deeper = "[" * 100_000 + "]" * 100_000
    return {
        "message": (400, f'{{"message": "bad key {key}, token {token}"}}', {}),
        "errors[]": (
            400,
            f'{{"errors": [{{"userMessage": "{key}", "internalMessage": "{token}"}}]}}',
            {},
        ),
        "code": (400, f'{{"statusCode": "{key}", "message": "x"}}', {}),
        "a key of the body": (500, f'{{"{key}": {{"{token}": 1}}, "message": "x"}}', {}),
        "plain text": (502, f"upstream said: {key} / {token}", {}),
        "nested 100 deep (kept as text)": (400, f'{{"message": "{key}", "x": {deep}}}', {}),
        "nested 100,000 deep": (400, f'{{"message": "{token}", "x": {deeper}}}', {}),
        "request id header": (404, '{"message": "x"}', {"x-request-id": key}),
        "quota answer": (403, f'{{"message": "{QUOTA} ({key})", "t": "{token}"}}', {}),
        "429": (429, f'{{"message": "slow down {token}"}}', {"Retry-After": "1"}),
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
async def test_no_echoed_secret_reaches_an_error(form: Any) -> None:
    key, token = form(KEY), form(TOKEN)
    echo = Echo()
    async with client_of(echo) as client:
        for name, (status, body, headers) in bodies(key, token).items():
            if name == "request id header" and not headers["x-request-id"].isascii():
                continue
            echo.status, echo.body, echo.headers = status, body.encode(), headers
            with pytest.raises(LegrandError) as info:
                await client.smarther.get_status(PLANT, MODULE)
            assert leaks(info.value, [key, token]) == [], name


@pytest.mark.asyncio
async def test_a_stored_quota_answer_fails_fast_without_its_secrets() -> None:
    echo = Echo()
    echo.status, echo.body = 403, f'{{"message": "{QUOTA} {json_escaped(KEY)}"}}'.encode()
    async with client_of(echo, rate_limit=RateLimit(per_day=500)) as client:
        for _ in range(2):  # the gateway's answer, then the limiter failing fast with it
            with pytest.raises(LegrandError) as info:
                await client.smarther.get_status(PLANT, MODULE)
            assert leaks(info.value, [json_escaped(KEY)]) == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "chrono",
    [
        {"function": "HEATING", "mode": "AUTOMATIC", "programs": [{"x": KEY}]},
        {"function": "HEATING", "mode": "AUTOMATIC", "programs": [KEY]},
        {"function": "HEATING", "mode": "AUTOMATIC", "setPoint": {"value": TOKEN, "unit": "C"}},
        {"function": "HEATING", "mode": "AUTOMATIC", "time": KEY},
        {"function": {"k": KEY}, "mode": TOKEN},
    ],
)
async def test_a_body_that_does_not_fit_says_where_not_what_the_secret_is(
    chrono: dict[str, Any],
) -> None:
    echo = Echo()
    echo.status, echo.body = 200, json.dumps({"chronothermostats": [chrono]}).encode()
    async with client_of(echo) as client:
        with pytest.raises(LegrandError) as info:
            await client.smarther.get_status(PLANT, MODULE)
    assert leaks(info.value, []) == []
    assert "$.chronothermostats[0]" in str(info.value) or "$" in str(info.value)


def test_a_reason_phrase_echoing_the_key_is_scrubbed_on_the_wire() -> None:
    async def script(conn: Connection) -> None:
        await conn.request()
        await conn.send(f"HTTP/1.1 400 bad key {KEY}\r\nContent-Length: 0\r\n\r\n".encode())

    async def main(base_url: str) -> BaseException:
        async with LegrandClient(
            KEY, access_token=TOKEN, base_url=base_url, rate_limit=None,
            retry=RetryPolicy(max_attempts=1),
        ) as client:
            with pytest.raises(LegrandError) as info:
                await client.smarther.get_status(PLANT, MODULE)
            return info.value

    _, error = serve(script, main)
    assert error.status_code == 400
    assert "bad key ***" in str(error)
    assert leaks(error, []) == []


@pytest.mark.asyncio
async def test_server_text_cannot_drive_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    echo = Echo()
    echo.status = 400
    echo.body = b'{"message": "\\u001b[2J\\u001b]0;owned\\u0007 done\\r over \\ud800"}'
    echo.headers = {"x-request-id": "id\x1b[31m"}
    async with client_of(echo) as client:
        with pytest.raises(LegrandError) as info:
            await client.smarther.get_status(PLANT, MODULE)
    text = str(info.value)
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\x07" not in text
    text.encode("utf-8")  # no lone surrogate: a UTF-8 log file takes it
    assert "\\u001b[2J" in text  # escaped, still readable
    logging.getLogger("test").error("call failed: %s", info.value)


# --- the scrubber on its own: any secret, any echo -------------------------------------------


SECRETS = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=6, max_size=40
)
#: Secrets a form body may carry (a client secret, a code): any printable text.
UNICODE_SECRETS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=6, max_size=30
)


#: Text around an echo; not ending in a backslash, which would escape the echo's own first
#: backslash and make it another string (a backslash, then "u0041").
BEFORE = st.text(max_size=20).filter(lambda text: not text.endswith("\\"))


@settings(max_examples=300, deadline=None)
@given(SECRETS | UNICODE_SECRETS, st.sampled_from(list(FORMS)), BEFORE, st.text(max_size=20))
def test_scrub_finds_a_secret_behind_any_form(
    secret: str, form: str, before: str, after: str
) -> None:
    echoed = before + FORMS[form](secret) + after
    text = scrub(echoed, [secret])
    assert secret not in text
    assert FORMS[form](secret) not in text or FORMS[form](secret) in before + after


@settings(max_examples=100, deadline=None)
@given(SECRETS | UNICODE_SECRETS, st.sampled_from(list(FORMS)))
def test_scrub_json_hides_the_secret_in_parsed_bodies(secret: str, form: str) -> None:
    echoed = FORMS[form](secret)
    body = json.loads(f'{{"a": ["{echoed}", {{"{echoed}": "x{echoed}y"}}]}}')
    assert secret not in json.dumps(scrub_json(body, [secret]), ensure_ascii=False)


def test_text_without_a_secret_is_left_as_it_is() -> None:
    text = 'a 100% "quoted" C:\\temp path, %41 and \\u0041 stay'
    assert scrub(text, [KEY, TOKEN]) == text


@pytest.mark.asyncio
async def test_the_mapping_scrubs_an_unknown_status_the_server_echoed_a_secret_in() -> None:
    request = httpx.Request(
        "GET", "https://x.org/", headers={"Ocp-Apim-Subscription-Key": KEY}
    )
    answer = httpx.Response(418, content=percent(KEY).encode())
    response = await through_the_stack(request, answer)
    error = error_from_response(response, attempts=1)
    assert leaks(error, [percent(KEY)]) == []
