"""``legrand-async``: sign in once, then use the saved login (needs the ``cli`` extra).

Commands: ``login`` (authorization-code flow, or ``--import`` of the seed script's config.yaml),
``whoami``/``status`` (the token's expiry and scope, never its value) and ``plants`` (Smarther
plants with the saved login). Settings come from flags, then ``--import``, then ``LEGRAND_*``
environment variables, then the saved config, then a prompt. Config and token live in the
user's config directory (or ``--config PATH``), written atomically with mode 0600.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx

from . import demo
from ._auth import DEFAULT_AUTH_URL, DEFAULT_SCOPES, FileTokenStore, OAuth2Auth, OAuthApp, Token
from ._client import DEFAULT_BASE_URL, LegrandClient
from ._files import read_private, write_private
from ._json import NotJSON, loads
from ._secrets import refuse_unsafe_characters
from .errors import LegrandError

__all__ = ["main"]

CONFIG_NAME = "config.json"
#: A config.json is a few hundred bytes: a larger one is refused unread.
MAX_CONFIG_FILE = 1024 * 1024
#: The seed script's config.yaml is a few hundred bytes: a larger one is refused unread.
MAX_SEED_FILE = 1024 * 1024
TOKEN_NAME = "token.json"  # noqa: S105 - a file name
#: setting -> (environment variable, prompt, secret)
SETTINGS: dict[str, tuple[str, str, bool]] = {
    "client_id": ("LEGRAND_CLIENT_ID", "Client id (from the app registration e-mail)", False),
    "client_secret": ("LEGRAND_CLIENT_SECRET", "Client secret", True),
    "redirect_uri": ("LEGRAND_REDIRECT_URI", "Redirect URI (a registered Reply URL)", False),
    "subscription_key": (
        "LEGRAND_SUBSCRIPTION_KEY",
        "Subscription key (Primary Key of your Starter Kit subscription)",
        True,
    ),
}
#: keys of the seed script's config.yaml
SEED_KEYS = {
    "client_id": "client_id",
    "client_secret": "client_secret",
    "redirect_uri": "redirect_uri",
    "subscription_key": "Ocp-Apim-Subscription-Key",
}


class CLIError(Exception):
    """A problem to report in one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line: ``legrand-async demo: error: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def config_dir(option: str | None) -> Path:
    """``--config`` (a directory, or a ``.json`` file whose directory is used), else the default."""
    if option:
        path = Path(option).expanduser()
        return path.parent if path.suffix == ".json" else path
    if env := os.environ.get("LEGRAND_CONFIG_DIR"):
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - the cli extra installs it
        raise CLIError("the CLI needs its extra: pip install 'legrand-async[cli]'") from None
    return Path(platformdirs.user_config_dir("legrand-async"))


def load_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_NAME
    try:
        content, _ = read_private(path, MAX_CONFIG_FILE)
        data = loads(content)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except NotJSON as exc:
        raise CLIError(f"{path} is not valid JSON ({exc.reason}): fix or delete it") from None
    except ValueError as exc:  # a directory, a FIFO, a huge file: not read
        raise CLIError(f"{exc}: fix or delete it") from None
    if not isinstance(data, dict):
        raise CLIError(f"{path} is not a JSON object: fix or delete it")
    return data


def save_config(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / CONFIG_NAME
    write_private(path, json.dumps(config, indent=2).encode())
    return path


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


def resolve(
    args: argparse.Namespace,
    saved: dict[str, Any],
    imported: dict[str, Any],
    ask: Callable[..., str],
) -> dict[str, Any]:
    """Every setting from a flag, the import, the environment, the saved config, or a prompt."""
    config = dict(saved)
    for name, (variable, prompt, secret) in SETTINGS.items():
        value = (
            getattr(args, name, None)
            or imported.get(name)
            or os.environ.get(variable)
            or saved.get(name)
        )
        while not value or not str(value).strip():
            value = ask(prompt, secret)
        config[name] = str(value).strip()
    if args.scopes is not None:
        config["scopes"] = args.scopes.split()
    config.setdefault("scopes", list(DEFAULT_SCOPES))
    for name, default in (("auth_url", DEFAULT_AUTH_URL), ("base_url", DEFAULT_BASE_URL)):
        config[name] = getattr(args, name, None) or config.get(name) or default
    return config


def ask(prompt: str, secret: bool = False) -> str:
    """Ask on the terminal (secrets without echo); read a line from stdin when it is not one."""
    if secret and sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
    print(f"{prompt}: ", end="", flush=True)
    line = sys.stdin.readline()
    if not line:
        raise CLIError(f"no input for: {prompt}")
    return line.strip()


def app_from(config: dict[str, Any]) -> OAuthApp:
    return OAuthApp(
        config["client_id"],
        config["client_secret"],
        config["redirect_uri"],
        scopes=config.get("scopes", DEFAULT_SCOPES),
        auth_url=config.get("auth_url", DEFAULT_AUTH_URL),
    )


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


async def login(args: argparse.Namespace, directory: Path) -> int:
    saved = load_config(directory)
    store = FileTokenStore(directory / TOKEN_NAME)
    imported: dict[str, Any] = {}
    token = None
    if args.import_path:
        imported, token = import_seed(args.import_path, datetime.now(UTC))
    config = resolve(args, saved, imported, ask)
    app = app_from(config)  # checks the client secret
    refuse_unsafe_characters("subscription_key", config["subscription_key"])
    if args.listen:
        listen_port(app.redirect_uri)
    config_path = save_config(directory, config)
    if token is None:
        url, state = app.authorization_url()
        print("Open this address in a browser, sign in and accept:\n")
        print(f"  {url}\n")
        if args.listen:
            print(f"Waiting for the redirect to {app.redirect_uri} ...")
            redirect = await catch_redirect(app.redirect_uri)
        else:
            redirect = ask("Then paste the address the browser was sent to")
        token = await app.exchange_code(redirect, expected_state=state)
    await store.save(token)
    print(f"Logged in. Config: {config_path}  Token: {store.path}")
    print(describe(token))
    return 0


def describe(token: Token) -> str:
    left = token.expires_at - datetime.now(UTC)
    minutes = int(left.total_seconds() // 60)
    when = f"in {minutes} min" if minutes >= 0 else "expired; it refreshes on the next call"
    expires = token.expires_at.isoformat()
    return f"Access token expires {expires} ({when}); scope: {token.scope or '-'}"


async def whoami(args: argparse.Namespace, directory: Path) -> int:
    config = load_config(directory)
    token = FileTokenStore(directory / TOKEN_NAME).load_sync()
    if not config or token is None:
        raise CLIError(f"not logged in (no login in {directory}): run legrand-async login")
    print(f"Client id: {config.get('client_id')}")
    print(describe(token))
    print(f"Token file: {directory / TOKEN_NAME}")
    return 0


async def plants(args: argparse.Namespace, directory: Path) -> int:
    config = load_config(directory)
    if not config:
        raise CLIError(f"not logged in (no login in {directory}): run legrand-async login")
    auth = OAuth2Auth(app_from(config), FileTokenStore(directory / TOKEN_NAME))
    async with LegrandClient(
        subscription_key=config["subscription_key"],
        auth=auth,
        base_url=config.get("base_url", DEFAULT_BASE_URL),
    ) as client:
        found = await client.smarther.list_plants()
    for plant in found:
        print(f"{plant.id}\t{plant.name}")
    if not found:
        print("No Smarther plants on this account.")
    return 0


def parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="directory for config.json and token.json, or a .json file in it "
        "(default: the user config directory)",
    )
    root = _Parser(prog="legrand-async", description=__doc__, parents=[common])
    commands = root.add_subparsers(dest="command", required=True)
    sign_in = commands.add_parser("login", parents=[common], help="sign in and save the login")
    for name in SETTINGS:
        sign_in.add_argument("--" + name.replace("_", "-"), dest=name)
    sign_in.add_argument("--scopes", help=f"space-separated (default: {' '.join(DEFAULT_SCOPES)})")
    sign_in.add_argument("--auth-url", dest="auth_url", help=f"default: {DEFAULT_AUTH_URL}")
    sign_in.add_argument("--base-url", dest="base_url", help=f"default: {DEFAULT_BASE_URL}")
    sign_in.add_argument(
        "--listen", action="store_true", help="catch the http://localhost:PORT redirect itself"
    )
    sign_in.add_argument(
        "--import", dest="import_path", metavar="PATH", help="the seed script's config.yaml"
    )
    for name in ("whoami", "status"):
        commands.add_parser(name, parents=[common], help="the saved token's expiry and scope")
    commands.add_parser("plants", parents=[common], help="list Smarther plants")
    demo.add_parser(commands)
    try:  # the simulator extra (starlette, uvicorn)
        from .simulator._cli import add_parser as add_simulator
    except ImportError:
        commands.add_parser("simulator", help="serve a simulated cloud (needs the simulator extra)")
    else:
        add_simulator(commands)
    return root


async def run_demo(args: argparse.Namespace, directory: Path) -> int:
    return await demo.run(args)


async def run_simulator(args: argparse.Namespace, directory: Path) -> int:
    try:
        from .simulator._cli import run
    except ImportError:
        raise CLIError("the simulator needs: pip install 'legrand-async[simulator]'") from None
    return await run(args)


COMMANDS = {
    "login": login,
    "whoami": whoami,
    "status": whoami,
    "plants": plants,
    "demo": run_demo,
    "simulator": run_simulator,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the exit status (argument errors raise SystemExit(2), as argparse does)."""
    try:
        args = parser().parse_args(argv)  # loads the simulator extra: Ctrl-C may come here too
        directory = config_dir(getattr(args, "config", None))
        return asyncio.run(COMMANDS[args.command](args, directory))
    except (CLIError, LegrandError, ValueError, OSError) as exc:
        print(f"legrand-async: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
