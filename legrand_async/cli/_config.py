"""What every command shares: the config directory, config.json, the settings (flag, environment
variable, saved value or prompt), the saved login, and the one-line error the CLI reports."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._auth import DEFAULT_AUTH_URL, DEFAULT_SCOPES, FileTokenStore, OAuth2Auth, OAuthApp
from .._client import DEFAULT_BASE_URL, LegrandClient
from .._files import read_private, write_private
from .._json import NotJSON, loads
from .._transport.ratelimit import FileQuotaStore, RateLimit

CONFIG_NAME = "config.json"
#: A config.json is a few hundred bytes: a larger one is refused unread.
MAX_CONFIG_FILE = 1024 * 1024
TOKEN_NAME = "token.json"  # noqa: S105 - a file name
#: The day's count of calls the commands made, shared by every command (``status`` reads it).
QUOTA_NAME = "quota.json"
#: The Starter Kit's daily quota, which the commands keep to.
PER_DAY = 500
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

#: How a command asks for a setting: ``ask(prompt, secret)`` -> the answer.
Ask = Callable[[str, bool], str]


class CLIError(Exception):
    """A problem to report in one line, exit status 1."""


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


def token_store(directory: Path) -> FileTokenStore:
    return FileTokenStore(directory / TOKEN_NAME)


def saved_config(directory: Path) -> dict[str, Any]:
    """The saved config, or CLIError "not logged in" when there is none."""
    config = load_config(directory)
    if not config:
        raise not_logged_in(directory)
    return config


def not_logged_in(directory: Path) -> CLIError:
    return CLIError(f"not logged in (no login in {directory}): run legrand-async login")


def resolve(
    flags: Mapping[str, str | None],
    saved: dict[str, Any],
    imported: dict[str, Any],
    ask: Ask,
    *,
    scopes: str | None = None,
    auth_url: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Every setting from a flag, the import, the environment, the saved config, or a prompt."""
    config = dict(saved)
    for name, (variable, prompt, secret) in SETTINGS.items():
        value = flags.get(name) or imported.get(name) or os.environ.get(variable) or saved.get(name)
        while not value or not str(value).strip():
            value = ask(prompt, secret)
        config[name] = str(value).strip()
    if scopes is not None:
        config["scopes"] = scopes.split()
    config.setdefault("scopes", list(DEFAULT_SCOPES))
    for name, given, default in (
        ("auth_url", auth_url, DEFAULT_AUTH_URL),
        ("base_url", base_url, DEFAULT_BASE_URL),
    ):
        config[name] = given or config.get(name) or default
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


def rate_limit(directory: Path) -> RateLimit:
    """The Starter Kit's daily quota, counted in ``directory``'s quota.json across commands."""
    return RateLimit(per_day=PER_DAY, store=FileQuotaStore(directory / QUOTA_NAME))


def client_from(directory: Path) -> LegrandClient:
    """A client with the login saved in ``directory`` (CLIError when there is none)."""
    config = saved_config(directory)
    auth = OAuth2Auth(app_from(config), token_store(directory))
    return LegrandClient(
        subscription_key=config["subscription_key"],
        auth=auth,
        base_url=config.get("base_url", DEFAULT_BASE_URL),
        rate_limit=rate_limit(directory),
    )
