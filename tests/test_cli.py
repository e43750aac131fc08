"""The ``legrand-async`` command line, in process: ``cli.main([...])`` returns the exit status.

The token endpoint and the data API are mocked with respx; ``--listen`` is tested on a real
loopback socket (respx lets 127.0.0.1 through). Standard input is a fake that answers prompts
one line at a time, reading the authorization URL the CLI printed to build the redirect.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from legrand_async import OAuthApp, Token, cli
from legrand_async._auth import DEFAULT_SCOPES

from .conftest import BASE, KEY

AUTH = "https://partners-login.eliotbylegrand.com"
TOKEN_URL = f"{AUTH}/token"
PLANTS_URL = f"{BASE}/smarther/v2.0/plants"
CLIENT_ID = "7700d7f4-b48e-4452-b493-5d14b45ef47e"
CLIENT_SECRET = "client-secret-Qx81zz"
REDIRECT = "https://www.mycompany.com/callback/"
CODE = "auth-code-77f1e0"
ACCESS = "access-token-new-1a2b3c"
REFRESH = "refresh-token-new-4d5e6f"
OLD_ACCESS = "access-token-old-aa11"
OLD_REFRESH = "refresh-token-old-bb22"
SCOPE = "comfort.read comfort.write"
PLANT_ID = "b5e48d6f-cbad-2711-e053-27182d0ad74c"
#: never to be printed, whatever the command
SECRETS = (CLIENT_SECRET, KEY, CODE, ACCESS, REFRESH, OLD_ACCESS, OLD_REFRESH)
FLAGS = [
    "--client-id",
    CLIENT_ID,
    "--client-secret",
    CLIENT_SECRET,
    "--redirect-uri",
    REDIRECT,
    "--subscription-key",
    KEY,
]
_AUTHORIZE = re.compile(re.escape(AUTH) + r"/authorize\?\S+")

Answer = str | Callable[[str], str]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LEGRAND_* variable of the developer's shell leaks in; no real config dir is used."""
    for name in list(os.environ):
        if name.startswith("LEGRAND_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def token_answer(
    access: str = ACCESS, refresh: str = REFRESH, expires_on: int | None = None
) -> dict[str, Any]:
    """What the token endpoint answers (``expires_on`` one hour from now unless given)."""
    if expires_on is None:
        expires_on = int(time.time()) + 3600
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_on": expires_on,
        "refresh_token": refresh,
        "scope": SCOPE,
    }


def form(request: httpx.Request) -> dict[str, str]:
    """A form-urlencoded body as a dict (each field once)."""
    fields = parse_qs(request.content.decode(), keep_blank_values=True)
    assert all(len(values) == 1 for values in fields.values()), fields
    return {name: values[0] for name, values in fields.items()}


def authorize_params(output: str) -> dict[str, str]:
    """The query of the (last) authorization URL printed."""
    urls = _AUTHORIZE.findall(output)
    assert urls, f"no authorization URL printed in {output!r}"
    return {name: values[0] for name, values in parse_qs(urlsplit(urls[-1]).query).items()}


def redirect_from(output: str, redirect_uri: str = REDIRECT) -> str:
    """The address the browser would be sent to, with the state of the printed URL."""
    state = authorize_params(output)["state"]
    return f"{redirect_uri}?code={CODE}&state={state}"


class FakeStdin:
    """Answers one line per readline(); a callable answer gets the output printed so far."""

    def __init__(self, capsys: pytest.CaptureFixture[str], *answers: Answer) -> None:
        self._capsys = capsys
        self._answers = list(answers)
        self.out = ""
        self.err = ""
        self.reads = 0

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        self.collect()
        self.reads += 1
        if not self._answers:
            return ""  # end of input
        answer = self._answers.pop(0)
        return (answer(self.out) if callable(answer) else answer) + "\n"

    def collect(self) -> tuple[str, str]:
        """Everything printed so far (stdout, stderr)."""
        captured = self._capsys.readouterr()
        self.out += captured.out
        self.err += captured.err
        return self.out, self.err


@pytest.fixture
def stdin_factory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., FakeStdin]:
    def make(*answers: Answer) -> FakeStdin:
        fake = FakeStdin(capsys, *answers)
        monkeypatch.setattr(sys, "stdin", fake)
        return fake

    return make


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def assert_logged_in(directory: Path, *, access: str = ACCESS, refresh: str = REFRESH) -> None:
    """config.json and token.json exist, 0600, with the settings and the token."""
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "token.json"]
    config_path, token_path = directory / "config.json", directory / "token.json"
    assert mode(config_path) == 0o600
    assert mode(token_path) == 0o600
    config = json.loads(config_path.read_text())
    assert {name: config[name] for name in cli.SETTINGS} == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
        "subscription_key": KEY,
    }
    assert config["scopes"] == list(DEFAULT_SCOPES)
    assert config["auth_url"] == AUTH
    assert config["base_url"] == BASE
    saved = json.loads(token_path.read_text())
    assert saved["access_token"] == access
    assert saved["refresh_token"] == refresh
    assert datetime.fromisoformat(saved["expires_at"]).utcoffset() == timedelta(0)


def assert_code_exchanged(route: respx.Route) -> None:
    assert route.call_count == 1
    assert form(route.calls.last.request) == {
        "client_id": CLIENT_ID,
        "grant_type": "authorization_code",
        "code": CODE,
        "client_secret": CLIENT_SECRET,
    }


# --- login: the URL / paste flow --------------------------------------------------------------


def test_login_with_flags(
    tmp_path: Path,
    router: respx.MockRouter,
    stdin_factory: Callable[..., FakeStdin],
    capsys: pytest.CaptureFixture[str],
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(redirect_from)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), *FLAGS]) == 0

    out, err = stdin.collect()
    assert stdin.reads == 1  # only the pasted redirect: every setting came from a flag
    params = authorize_params(out)
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == REDIRECT
    assert params["response_type"] == "code"
    assert params["scope"] == " ".join(DEFAULT_SCOPES)
    assert len(params["state"]) >= 32
    assert_code_exchanged(route)
    assert_logged_in(directory)
    assert "Logged in" in out
    assert f"scope: {SCOPE}" in out
    assert_no_secrets(out, err)


def test_login_with_environment_variables(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    router: respx.MockRouter,
    stdin_factory: Callable[..., FakeStdin],
) -> None:
    monkeypatch.setenv("LEGRAND_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("LEGRAND_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("LEGRAND_REDIRECT_URI", REDIRECT)
    monkeypatch.setenv("LEGRAND_SUBSCRIPTION_KEY", KEY)
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(redirect_from)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory)]) == 0

    out, err = stdin.collect()
    assert stdin.reads == 1
    assert authorize_params(out)["client_id"] == CLIENT_ID
    assert_code_exchanged(route)
    assert_logged_in(directory)
    assert_no_secrets(out, err)


def test_login_with_prompts(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(CLIENT_ID, CLIENT_SECRET, REDIRECT, KEY, redirect_from)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory)]) == 0

    out, err = stdin.collect()
    assert stdin.reads == 5
    prompts = [out.index(text) for text in ("Client id", "Client secret", "Redirect URI")]
    prompts += [out.index("Subscription key"), out.index("/authorize?"), out.index("paste")]
    assert prompts == sorted(prompts)
    assert_code_exchanged(route)
    assert_logged_in(directory)
    assert_no_secrets(out, err)  # the answers are read, not echoed


def test_flags_beat_environment_variables(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    router: respx.MockRouter,
    stdin_factory: Callable[..., FakeStdin],
) -> None:
    monkeypatch.setenv("LEGRAND_CLIENT_ID", "some-other-client")
    monkeypatch.setenv("LEGRAND_CLIENT_SECRET", "some-other-secret")
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(redirect_from)

    assert cli.main(["login", "--config", str(tmp_path / "cfg"), *FLAGS]) == 0

    assert authorize_params(stdin.collect()[0])["client_id"] == CLIENT_ID
    assert_code_exchanged(route)


def test_scopes_option(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(redirect_from)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), "--scopes", SCOPE, *FLAGS]) == 0

    assert authorize_params(stdin.collect()[0])["scope"] == SCOPE
    assert json.loads((directory / "config.json").read_text())["scopes"] == SCOPE.split()


def test_login_again_reuses_the_saved_settings(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    directory = tmp_path / "cfg"
    router.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=token_answer(OLD_ACCESS, OLD_REFRESH)),
            httpx.Response(200, json=token_answer()),
        ]
    )
    stdin_factory(redirect_from)
    assert cli.main(["login", "--config", str(directory), *FLAGS]) == 0

    stdin = stdin_factory(redirect_from)  # no flags, no variables: nothing is asked but the URL
    assert cli.main(["login", "--config", str(directory)]) == 0

    assert stdin.reads == 1
    assert_logged_in(directory)


def test_config_option_may_name_the_json_file(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin_factory(redirect_from)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory / "config.json"), *FLAGS]) == 0

    assert_logged_in(directory)


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs follows XDG_CONFIG_HOME on Linux")
def test_default_config_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    router: respx.MockRouter,
    stdin_factory: Callable[..., FakeStdin],
) -> None:
    router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin_factory(redirect_from)
    assert cli.main(["login", *FLAGS]) == 0
    assert_logged_in(tmp_path / "xdg" / "legrand-async")  # platformdirs' user config dir

    monkeypatch.setenv("LEGRAND_CONFIG_DIR", str(tmp_path / "elsewhere"))
    stdin_factory(redirect_from)
    assert cli.main(["login", *FLAGS]) == 0
    assert_logged_in(tmp_path / "elsewhere")


def test_wrong_state_is_refused_before_any_request(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(f"{REDIRECT}?code={CODE}&state=forged-state")
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), *FLAGS]) == 1

    out, err = stdin.collect()
    assert "state is not the one sent" in err  # StateMismatch
    assert not route.called
    assert not (directory / "token.json").exists()
    assert_no_secrets(out, err)


def test_bare_code_cannot_pass_the_state_check(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(CODE)

    assert cli.main(["login", "--config", str(tmp_path / "cfg"), *FLAGS]) == 1

    assert "paste the whole URL" in stdin.collect()[1]
    assert not route.called


def test_expired_client_secret_says_where_to_renew_it(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(
        400,
        json={
            "error": "invalid_grant",
            "error_description": "AADB2C90085: The service has encountered an internal error. "
            "Please reauthenticate and try again.",
        },
    )
    stdin = stdin_factory(redirect_from)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), *FLAGS]) == 1

    out, err = stdin.collect()
    assert route.call_count == 1  # a 400 is not retried
    assert "mysettings.developer.legrand.com/Applications/Owned" in err
    assert "AADB2C90085" in err
    assert not (directory / "token.json").exists()
    assert_no_secrets(out, err)


def test_sign_in_refused_in_the_browser(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(
        lambda out: (
            f"{REDIRECT}?error=access_denied&error_description=The+user+cancelled"
            f"&state={authorize_params(out)['state']}"
        )
    )

    assert cli.main(["login", "--config", str(tmp_path / "cfg"), *FLAGS]) == 1

    assert "access_denied" in stdin.collect()[1]
    assert not route.called


def test_end_of_input_at_a_prompt(tmp_path: Path, stdin_factory: Callable[..., FakeStdin]) -> None:
    stdin = stdin_factory(CLIENT_ID)  # then nothing

    assert cli.main(["login", "--config", str(tmp_path / "cfg")]) == 1

    assert "no input for: Client secret" in stdin.collect()[1]


def test_invalid_redirect_uri(tmp_path: Path, stdin_factory: Callable[..., FakeStdin]) -> None:
    stdin = stdin_factory()
    flags = [*FLAGS]
    flags[flags.index(REDIRECT)] = "www.mycompany.com/callback"

    assert cli.main(["login", "--config", str(tmp_path / "cfg"), *flags]) == 1

    assert "redirect_uri must be an absolute http(s) URL" in stdin.collect()[1]


# --- login --import -------------------------------------------------------------------------


def seed_config(path: Path, *, tokens: bool) -> Path:
    """A config.yaml as the seed script writes it."""
    lines = [
        f"client_id: {CLIENT_ID}",
        f"client_secret: {CLIENT_SECRET}",
        f"redirect_uri: {REDIRECT}",
        f"Ocp-Apim-Subscription-Key: {KEY}",
    ]
    if tokens:
        lines += [
            f"authorize_code: {CODE}",
            f"access_token: Bearer {OLD_ACCESS}",
            f"refresh_token: {OLD_REFRESH}",
            "access_token_expires_on: 1790000000",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_with_tokens_needs_no_browser(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory()
    seed = seed_config(tmp_path / "config.yaml", tokens=True)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), "--import", str(seed)]) == 0

    out, err = stdin.collect()
    assert stdin.reads == 0
    assert "/authorize?" not in out
    assert not route.called
    assert_logged_in(directory, access=OLD_ACCESS, refresh=OLD_REFRESH)  # without "Bearer "
    saved = json.loads((directory / "token.json").read_text())
    assert datetime.fromisoformat(saved["expires_at"]) == datetime.fromtimestamp(1790000000, UTC)
    assert_no_secrets(out, err)


def test_import_without_tokens_signs_in(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory(redirect_from)
    seed = seed_config(tmp_path / "config.yaml", tokens=False)
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), "--import", str(seed)]) == 0

    out, err = stdin.collect()
    assert stdin.reads == 1
    assert authorize_params(out)["redirect_uri"] == REDIRECT
    assert_code_exchanged(route)
    assert_logged_in(directory)
    assert_no_secrets(out, err)


def test_import_of_a_missing_file(tmp_path: Path, stdin_factory: Callable[..., FakeStdin]) -> None:
    stdin = stdin_factory()

    status = cli.main(["login", "--config", str(tmp_path / "cfg"), "--import", "nowhere.yaml"])

    assert status == 1
    assert "cannot read nowhere.yaml" in stdin.collect()[1]


BROKEN_SEEDS = {
    # (content, line, column): each breaks on a line holding a secret
    "unclosed-quote": (
        f"client_id: {CLIENT_ID}\nclient_secret: '{CLIENT_SECRET}\nOcp-Apim-Subscription-Key: "
        f'"{KEY}',
        3,  # where the scanner gave up: the end of the file
    ),
    "bad-mapping": (f"client_id: {CLIENT_ID}\nclient_secret: {CLIENT_SECRET}: {KEY}\n", 2),
    "unclosed-flow": (f"client_id: {CLIENT_ID}\nscopes: [{CLIENT_SECRET}, {KEY}\nx: 1\n", 3),
    "tab-indent": (f"client_id: {CLIENT_ID}\n\tclient_secret: {CLIENT_SECRET}\n", 2),
}


@pytest.mark.parametrize("name", list(BROKEN_SEEDS))
def test_import_of_a_config_that_does_not_parse_says_where_never_what(
    tmp_path: Path, stdin_factory: Callable[..., FakeStdin], name: str
) -> None:
    content, line = BROKEN_SEEDS[name]
    seed = tmp_path / "config.yaml"
    seed.write_text(content)
    stdin = stdin_factory()

    status = cli.main(["login", "--config", str(tmp_path / "cfg"), "--import", str(seed)])

    out, err = stdin.collect()
    assert status == 1
    assert str(seed) in err
    assert re.search(rf"line {line}, column \d+", err), err
    assert_no_secrets(out, err)
    assert CLIENT_ID not in err  # nothing of the content at all


def test_import_of_a_config_with_control_characters_in_a_secret(
    tmp_path: Path, stdin_factory: Callable[..., FakeStdin]
) -> None:
    seed = seed_config(tmp_path / "config.yaml", tokens=True)
    seed.write_text(seed.read_text().replace(OLD_REFRESH, f'"{OLD_REFRESH}\\u0007"'))
    stdin = stdin_factory()

    status = cli.main(["login", "--config", str(tmp_path / "cfg"), "--import", str(seed)])

    out, err = stdin.collect()
    assert status == 1
    assert "control character" in err
    assert_no_secrets(out, err)


# --- login --listen -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_redirect(port: int, query: dict[str, str], path: str = "/callback") -> httpx.Response:
    """GET the loopback redirect like a browser, retrying while the server is not up (<= 5 s)."""
    deadline = time.monotonic() + 5
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                return http.get(f"http://127.0.0.1:{port}{path}", params=query)
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


async def asend_redirect(
    port: int, query: dict[str, str], path: str = "/callback"
) -> httpx.Response:
    deadline = time.monotonic() + 5
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                return await http.get(f"http://127.0.0.1:{port}{path}", params=query)
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.01)


def test_login_listen_catches_the_redirect(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    router: respx.MockRouter,
    stdin_factory: Callable[..., FakeStdin],
) -> None:
    port = free_port()
    redirect_uri = f"http://localhost:{port}/callback"
    router.route(host="127.0.0.1").pass_through()
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    monkeypatch.setattr(cli.catch_redirect, "__defaults__", (10.0,))  # not 300 s if it breaks
    states: queue.Queue[str] = queue.Queue()
    authorization_url = OAuthApp.authorization_url

    def spy(self: OAuthApp, state: str | None = None) -> tuple[str, str]:
        url, state = authorization_url(self, state)
        states.put(state)
        return url, state

    monkeypatch.setattr(OAuthApp, "authorization_url", spy)
    stdin = stdin_factory()  # nothing is read from stdin
    directory = tmp_path / "cfg"
    flags = [*FLAGS]
    flags[flags.index(REDIRECT)] = redirect_uri
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            cli.main(["login", "--config", str(directory), "--listen", *flags])
        ),
        daemon=True,
    )
    thread.start()
    state = states.get(timeout=5)

    ignored = send_redirect(port, {}, path="/favicon.ico")  # no code: keeps waiting
    response = send_redirect(port, {"code": CODE, "state": state})

    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result == [0]
    assert ignored.status_code == 200
    assert response.status_code == 200
    assert "Signed in" in response.text
    out, err = stdin.collect()
    assert stdin.reads == 0
    assert f"Waiting for the redirect to {redirect_uri}" in out
    assert authorize_params(out)["redirect_uri"] == redirect_uri
    assert route.call_count == 1
    assert form(route.calls.last.request)["code"] == CODE
    config = json.loads((directory / "config.json").read_text())
    assert config["redirect_uri"] == redirect_uri
    assert json.loads((directory / "token.json").read_text())["access_token"] == ACCESS
    assert_no_secrets(out, err)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT,
        "https://localhost:8765/callback",
        "http://example.com:8765/cb",
        "http://localhost/",
    ],
)
def test_listen_needs_an_http_localhost_redirect(
    tmp_path: Path,
    router: respx.MockRouter,
    stdin_factory: Callable[..., FakeStdin],
    redirect_uri: str,
) -> None:
    route = router.post(TOKEN_URL).respond(200, json=token_answer())
    stdin = stdin_factory()
    flags = [*FLAGS]
    flags[flags.index(REDIRECT)] = redirect_uri

    assert cli.main(["login", "--config", str(tmp_path / "cfg"), "--listen", *flags]) == 1

    assert "--listen needs a redirect URI like http://localhost:8765/callback" in stdin.collect()[1]
    assert stdin.reads == 0
    assert not route.called


def test_listen_checks_the_redirect_uri_before_printing_the_url(
    tmp_path: Path, stdin_factory: Callable[..., FakeStdin]
) -> None:
    stdin = stdin_factory()
    directory = tmp_path / "cfg"

    assert cli.main(["login", "--config", str(directory), "--listen", *FLAGS]) == 1

    assert "/authorize?" not in stdin.collect()[0]
    assert not (directory / "config.json").exists()


@pytest.mark.asyncio
async def test_catch_redirect_returns_the_whole_redirect_url() -> None:
    port = free_port()
    task = asyncio.create_task(cli.catch_redirect(f"http://localhost:{port}/cb", wait=10))

    favicon = await asend_redirect(port, {}, path="/favicon.ico")
    response = await asend_redirect(port, {"code": CODE, "state": "s1"}, path="/cb")

    assert await asyncio.wait_for(task, 5) == f"http://localhost:{port}/cb?code={CODE}&state=s1"
    assert favicon.status_code == response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(httpx.ConnectError):  # the port is closed again
            await http.get(f"http://127.0.0.1:{port}/cb")


@pytest.mark.asyncio
async def test_catch_redirect_passes_errors_on() -> None:
    port = free_port()
    task = asyncio.create_task(cli.catch_redirect(f"http://127.0.0.1:{port}/", wait=10))

    await asend_redirect(port, {"error": "access_denied"}, path="/")

    assert await asyncio.wait_for(task, 5) == f"http://127.0.0.1:{port}/?error=access_denied"


@pytest.mark.asyncio
async def test_catch_redirect_gives_up() -> None:
    with pytest.raises(cli.CLIError, match="no redirect arrived within 0 s"):
        await cli.catch_redirect(f"http://localhost:{free_port()}/cb", wait=0.05)


@pytest.mark.asyncio
async def test_catch_redirect_returns_despite_an_idle_preconnection() -> None:
    port = free_port()
    task = asyncio.create_task(cli.catch_redirect(f"http://localhost:{port}/cb", wait=10))
    await asend_redirect(port, {}, path="/favicon.ico")  # the server is up
    _, idle = await asyncio.open_connection("127.0.0.1", port)  # a browser's speculative socket
    try:
        await asend_redirect(port, {"code": CODE, "state": "s1"}, path="/cb")
        assert await asyncio.wait_for(task, 3) == f"http://localhost:{port}/cb?code={CODE}&state=s1"
    finally:
        idle.close()
        if not task.done():
            task.cancel()


# --- whoami / status ------------------------------------------------------------------------


def write_login(directory: Path, token: Token) -> None:
    """config.json and token.json as a login leaves them."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
        "subscription_key": KEY,
        "scopes": list(DEFAULT_SCOPES),
        "auth_url": AUTH,
        "base_url": BASE,
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "token.json").write_text(json.dumps(token.to_json()))


@pytest.fixture
def logged_in(
    tmp_path: Path, router: respx.MockRouter, stdin_factory: Callable[..., FakeStdin]
) -> Path:
    """A directory holding a real CLI login (the token endpoint is reset afterwards)."""
    directory = tmp_path / "cfg"
    router.post(TOKEN_URL).respond(200, json=token_answer(expires_on=1893456000))
    stdin = stdin_factory(redirect_from)
    assert cli.main(["login", "--config", str(directory), *FLAGS]) == 0
    stdin.collect()
    router.routes.clear()
    router.reset()
    return directory


def test_whoami_shows_expiry_and_scope_only(
    logged_in: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["whoami", "--config", str(logged_in)]) == 0

    out, err = capsys.readouterr()
    assert f"Client id: {CLIENT_ID}" in out
    assert "2030-01-01T00:00:00+00:00" in out
    assert f"scope: {SCOPE}" in out
    assert str(logged_in / "token.json") in out
    assert err == ""
    assert_no_secrets(out, err)


def test_whoami_config_option_before_the_command(
    logged_in: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(logged_in), "whoami"]) == 0

    assert f"scope: {SCOPE}" in capsys.readouterr().out


def test_whoami_of_an_expired_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_login(tmp_path, Token(OLD_ACCESS, OLD_REFRESH, datetime(2025, 1, 1, tzinfo=UTC)))

    assert cli.main(["whoami", "--config", str(tmp_path)]) == 0

    out, err = capsys.readouterr()
    assert "2025-01-01T00:00:00+00:00 (expired; it refreshes on the next call)" in out
    assert "scope: -" in out
    assert_no_secrets(out, err)


@pytest.mark.parametrize("command", ["whoami", "status", "plants"])
def test_not_logged_in(
    tmp_path: Path, router: respx.MockRouter, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([command, "--config", str(tmp_path / "empty")]) == 1

    err = capsys.readouterr().err
    assert "not logged in" in err
    assert "legrand-async login" in err
    assert not router.calls


def test_whoami_with_a_broken_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_login(tmp_path, Token(OLD_ACCESS, OLD_REFRESH, datetime(2025, 1, 1, tzinfo=UTC)))
    (tmp_path / "token.json").write_text("{not json")

    assert cli.main(["whoami", "--config", str(tmp_path)]) == 1

    assert "does not hold a token" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["nested", "fifo", "directory", "huge", "not-json"])
def test_an_odd_config_json_is_one_clean_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A config.json nested 100,000 deep was a RecursionError traceback, a FIFO hung the read:
    each is one error line now, exit 1, and the file is not read past its size limit."""
    path = tmp_path / "config.json"
    if kind == "nested":
        path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    elif kind == "fifo":
        os.mkfifo(path)  # nobody writes it: a plain read would block for ever
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        with path.open("wb") as file:
            file.truncate(2 * 1024**3)  # sparse
    else:
        path.write_text("{client_id: x")

    assert cli.main(["whoami", "--config", str(tmp_path)]) == 1

    err = capsys.readouterr().err
    assert str(path) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["whoami", "login"])
def test_config_that_is_not_a_directory(
    tmp_path: Path, command: str, stdin_factory: Callable[..., FakeStdin]
) -> None:
    stdin = stdin_factory()
    not_a_directory = tmp_path / "afile"
    not_a_directory.write_text("")
    flags = FLAGS if command == "login" else []

    assert cli.main([command, "--config", str(not_a_directory), *flags]) == 1

    assert str(not_a_directory) in stdin.collect()[1]


# --- plants ---------------------------------------------------------------------------------


def test_plants_with_the_saved_login(
    logged_in: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    token = router.post(TOKEN_URL).respond(200, json=token_answer())
    plants = router.get(PLANTS_URL).respond(
        200, json={"plants": [{"id": PLANT_ID, "name": "Home"}]}
    )

    assert cli.main(["plants", "--config", str(logged_in)]) == 0

    out, err = capsys.readouterr()
    assert out == f"plant\tname\n{PLANT_ID}\tHome\n"
    assert not token.called  # the saved token is good until 2030
    request = plants.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert_no_secrets(out, err)


def test_plants_refreshes_an_expired_token_first(
    tmp_path: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    write_login(tmp_path, Token(OLD_ACCESS, OLD_REFRESH, datetime(2025, 1, 1, tzinfo=UTC)))
    token = router.post(TOKEN_URL).respond(200, json=token_answer(expires_on=1893456000))
    plants = router.get(PLANTS_URL).respond(
        200, json={"plants": [{"id": PLANT_ID, "name": "Home"}]}
    )

    assert cli.main(["plants", "--config", str(tmp_path)]) == 0

    out, err = capsys.readouterr()
    assert out == f"plant\tname\n{PLANT_ID}\tHome\n"
    assert token.call_count == 1
    assert form(token.calls.last.request) == {
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
        "client_secret": CLIENT_SECRET,
    }
    assert plants.calls.last.request.headers["Authorization"] == f"Bearer {ACCESS}"
    saved = json.loads((tmp_path / "token.json").read_text())
    assert (saved["access_token"], saved["refresh_token"]) == (ACCESS, REFRESH)
    assert saved["expires_at"] == "2030-01-01T00:00:00+00:00"
    assert mode(tmp_path / "token.json") == 0o600
    assert_no_secrets(out, err)


def test_plants_refreshes_once_on_401(
    logged_in: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    token = router.post(TOKEN_URL).respond(
        200, json=token_answer("access-token-third", "refresh-token-third")
    )
    plants = router.get(PLANTS_URL).mock(
        side_effect=[
            httpx.Response(401, json={"statusCode": 401, "message": "Invalid token"}),
            httpx.Response(200, json={"plants": [{"id": PLANT_ID, "name": "Home"}]}),
        ]
    )

    assert cli.main(["plants", "--config", str(logged_in)]) == 0

    assert capsys.readouterr().out == f"plant\tname\n{PLANT_ID}\tHome\n"
    assert token.call_count == 1
    assert form(token.calls.last.request)["refresh_token"] == REFRESH
    sent = [call.request.headers["Authorization"] for call in plants.calls]
    assert sent == [f"Bearer {ACCESS}", "Bearer access-token-third"]
    saved = json.loads((logged_in / "token.json").read_text())
    assert saved["refresh_token"] == "refresh-token-third"


def test_plants_when_there_are_none(
    logged_in: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    router.get(PLANTS_URL).respond(204)

    assert cli.main(["plants", "--config", str(logged_in)]) == 0

    assert capsys.readouterr().out == "No Smarther plants on this account.\n"


def test_plants_when_the_refresh_token_is_refused(
    tmp_path: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    write_login(tmp_path, Token(OLD_ACCESS, OLD_REFRESH, datetime(2025, 1, 1, tzinfo=UTC)))
    router.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": "AADB2C90129: revoked"}
    )
    plants = router.get(PLANTS_URL).respond(200, json={"plants": []})

    assert cli.main(["plants", "--config", str(tmp_path)]) == 1

    out, err = capsys.readouterr()
    assert "sign in again" in err
    assert not plants.called
    assert_no_secrets(out, err)


# --- the console script ---------------------------------------------------------------------


def test_console_script_is_installed() -> None:
    scripts = entry_points(group="console_scripts", name="legrand-async")
    assert [script.value for script in scripts] == ["legrand_async.cli:main"]
    done = subprocess.run(
        [sys.executable, "-m", "legrand_async.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("login", "whoami", "status", "plants"):
        assert command in done.stdout


def test_login_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["login", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--client-id", "--client-secret", "--redirect-uri", "--subscription-key"):
        assert option in out
    for option in ("--listen", "--import", "--config", "--scopes"):
        assert option in out


# --- a config.json that is not what it should be ----------------------------------------------


def _deep_json() -> str:
    return "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda path: path.write_text(_deep_json()), id="nested 100000 deep"),
        pytest.param(lambda path: path.write_bytes(b"\xff\xfe{\x00"), id="not UTF-8"),
        pytest.param(lambda path: path.write_text("[1, 2]"), id="not an object"),
        pytest.param(lambda path: path.write_bytes(b" " * (2 << 20)), id="over 1 MiB"),
        pytest.param(lambda path: path.mkdir(), id="a directory"),
        pytest.param(lambda path: os.mkfifo(path), id="a FIFO"),
    ],
)
def test_a_config_json_that_is_not_a_json_object_is_one_line_never_a_traceback(
    tmp_path: Path, make: Callable[[Path], object], capsys: pytest.CaptureFixture[str]
) -> None:
    make(tmp_path / "config.json")

    assert cli.main(["whoami", "--config", str(tmp_path)]) == 1  # a FIFO must not hang it

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "RecursionError" not in err
    assert str(tmp_path / "config.json") in err
    assert len(err.strip().splitlines()) == 1
