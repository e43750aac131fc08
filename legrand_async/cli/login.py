"""``legrand-async login``: the authorization-code flow (the URL to open, then the redirect pasted
or caught on ``http://localhost:PORT`` with ``--listen``), or ``--import`` of the seed script's
config.yaml; the settings and the token are saved in the config directory."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .._auth import DEFAULT_AUTH_URL, DEFAULT_SCOPES, Token
from .._client import DEFAULT_BASE_URL
from .._files import read_private
from .._secrets import refuse_unsafe_characters
from ._config import (
    SETTINGS,
    Ask,
    CLIError,
    app_from,
    load_config,
    resolve,
    save_config,
    token_store,
)
from .whoami import describe

__all__ = ["add_parser", "catch_redirect", "import_seed", "listen_port", "login"]

#: The seed script's config.yaml is a few hundred bytes: a larger one is refused unread.
MAX_SEED_FILE = 1024 * 1024
#: keys of the seed script's config.yaml
SEED_KEYS = {
    "client_id": "client_id",
    "client_secret": "client_secret",
    "redirect_uri": "redirect_uri",
    "subscription_key": "Ocp-Apim-Subscription-Key",
}


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``login`` on the CLI's subcommands."""
    sign_in = commands.add_parser(
        "login",
        parents=[common],
        help="sign in and save the login",
        description="Sign in with your application's registration and save the login (config "
        "and token, readable by you only). It prints an address to open in a browser; paste "
        "the address the browser is sent to, or let --listen catch it. A setting not given as "
        "a flag comes from its LEGRAND_* environment variable, the saved login, or a prompt.",
    )
    for name, (variable, prompt, _) in SETTINGS.items():
        sign_in.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar=name.split("_")[-1].upper(),
            help=f"{prompt[0].lower()}{prompt[1:]}; else from {variable}",
        )
    sign_in.add_argument(
        "--scopes",
        metavar="SCOPES",
        help=f"the scopes to ask for, separated by spaces (default: {' '.join(DEFAULT_SCOPES)})",
    )
    sign_in.add_argument(
        "--auth-url",
        dest="auth_url",
        metavar="URL",
        help=f"the sign-in service (default: {DEFAULT_AUTH_URL})",
    )
    sign_in.add_argument(
        "--base-url",
        dest="base_url",
        metavar="URL",
        help=f"the data API (default: {DEFAULT_BASE_URL})",
    )
    sign_in.add_argument(
        "--listen",
        action="store_true",
        help="catch the redirect on http://localhost:PORT instead of asking to paste it",
    )
    sign_in.add_argument(
        "--import",
        dest="import_path",
        metavar="PATH",
        help="take the settings (and the tokens, if any) from the seed script's config.yaml",
    )


def import_seed(path: str, now: datetime) -> tuple[dict[str, Any], Token | None]:
    """Settings (and the token, when it has one) from the seed script's config.yaml."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - the cli extra installs it
        raise CLIError("--import needs PyYAML: pip install 'legrand-async[cli]'") from None
    try:
        content, _ = read_private(Path(path).expanduser(), MAX_SEED_FILE)
        # Every value as the text written: safe_load would turn a secret 0777 into 511.
        data = yaml.load(content.decode("utf-8"), Loader=yaml.BaseLoader)  # noqa: S506 - str/list/dict only
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:  # its text quotes the file: say where, never what
        raise CLIError(f"{path} is not valid YAML{_where(exc)}") from None
    except ValueError as exc:  # a directory, a FIFO, a huge file: not read
        raise CLIError(str(exc)) from None
    if not isinstance(data, dict):
        raise CLIError(f"{path} is not a config.yaml of the seed script")
    settings = {ours: _scalar(data, theirs, path) for ours, theirs in SEED_KEYS.items()}
    settings = {name: value for name, value in settings.items() if value}
    access = _scalar(data, "access_token", path).removeprefix("Bearer ").strip()
    refresh = _scalar(data, "refresh_token", path).strip()
    token = None
    if access and refresh:
        expires = _scalar(data, "access_token_expires_on", path)
        try:
            expires_at = datetime.fromtimestamp(float(expires), UTC) if expires else now
        except (TypeError, ValueError, OverflowError, OSError):
            raise CLIError(f"{path}: access_token_expires_on is not epoch seconds") from None
        try:
            token = Token(access, refresh, expires_at)
        except ValueError as exc:  # the message names the field, never its value
            raise CLIError(f"{path}: {exc}") from None
    return settings, token


def _scalar(data: dict[Any, Any], key: str, path: str) -> str:
    """``data[key]`` (text as written: BaseLoader), "" when absent or null; CLIError for a
    list or mapping (an alias bomb would take forever to print), naming the key only."""
    value = data.get(key, "")
    if not isinstance(value, str):
        raise CLIError(f"{path}: {key} is not a single value")
    return "" if value in _NULLS else value


_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


def _where(exc: Exception) -> str:
    """`` at line L, column C`` of a YAML error (1-based), when it knows."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    position = getattr(exc, "position", None)  # a ReaderError: a character YAML refuses
    return f" at character {position}" if isinstance(position, int) else ""


def listen_port(redirect_uri: str) -> int:
    """The port of an ``http://localhost:PORT/...`` redirect URI, which --listen can serve."""
    url = httpx.URL(redirect_uri)
    if url.scheme != "http" or url.host not in ("localhost", "127.0.0.1") or not url.port:
        raise CLIError("--listen needs a redirect URI like http://localhost:8765/callback")
    return url.port


async def catch_redirect(redirect_uri: str, wait: float = 300.0) -> str:
    """Serve ``http://localhost:PORT/...`` once and return the URL the browser was sent to."""
    url = httpx.URL(redirect_uri)
    port = listen_port(redirect_uri)
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()).strip():
                pass
            page = b"<h1>Signed in.</h1><p>You can close this window.</p>"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n".encode()
                + page
            )
            await writer.drain()
            if len(request_line) >= 2 and not received.done():
                target = request_line[1]
                if "code=" in target or "error=" in target:
                    received.set_result(str(url.copy_with(raw_path=target.encode())))
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        return await asyncio.wait_for(received, wait)
    except TimeoutError:
        raise CLIError(f"no redirect arrived within {wait:.0f} s") from None
    finally:
        # Browsers keep idle spare connections open: end them instead of waiting for them.
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def login(
    directory: Path,
    flags: Mapping[str, str | None],
    *,
    ask: Ask,
    scopes: str | None = None,
    auth_url: str | None = None,
    base_url: str | None = None,
    listen: bool = False,
    import_path: str | None = None,
) -> int:
    """Sign in (or import) and save the login in ``directory``; the exit status, 0.

    ``flags`` holds the settings given on the command line (by ``SETTINGS`` name); ``ask``
    prompts for the others and for the pasted redirect.
    """
    saved = load_config(directory)
    store = token_store(directory)
    imported: dict[str, Any] = {}
    token = None
    if import_path:
        imported, token = import_seed(import_path, datetime.now(UTC))
    config = resolve(
        flags, saved, imported, ask, scopes=scopes, auth_url=auth_url, base_url=base_url
    )
    app = app_from(config)  # checks the client secret
    refuse_unsafe_characters("subscription_key", config["subscription_key"])
    if listen:
        listen_port(app.redirect_uri)
    config_path = save_config(directory, config)
    if token is None:
        url, state = app.authorization_url()
        print("Open this address in a browser, sign in and accept:\n")
        print(f"  {url}\n")
        if listen:
            print(f"Waiting for the redirect to {app.redirect_uri} ...")
            redirect = await catch_redirect(app.redirect_uri)
        else:
            redirect = ask("Then paste the address the browser was sent to", False)
        token = await app.exchange_code(redirect, expected_state=state)
    await store.save(token)
    print(f"Logged in. Config: {config_path}  Token: {store.path}")
    print(describe(token))
    return 0
