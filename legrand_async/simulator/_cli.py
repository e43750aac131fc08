"""``legrand-async simulator``: serve the simulated cloud on a local port until Ctrl-C.

It prints what a client needs: the base URL (the data API's and the OAuth server's), the
subscription key, the application's client id, secret and redirect URI, a ready-made access
token, and the first plant's ids. Any HTTP client can use it, in any language.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
from datetime import UTC
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import Simulator

__all__ = ["add_parser", "describe", "environment", "run", "simulator_for"]

#: What ``legrand-async simulator --help`` says first, in plain words.
DESCRIPTION = (
    "Serve a simulated Legrand developer cloud on a local port until Ctrl-C. It prints what a "
    "client needs (the base URL, a subscription key, the application's client id, secret and "
    "redirect URI, an access token, the first plant's ids) and the lines to export for the "
    "examples in the docs. Any HTTP client can use it, in any language."
)

#: The redirect URI that ``legrand-async login --listen`` can catch (the simulator accepts any).
LISTEN_REDIRECT = "http://localhost:8765/callback"


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ValueError, ZoneInfoNotFoundError):
        raise argparse.ArgumentTypeError(f"{text} is not a time zone (e.g. Europe/Rome)") from None
    return text


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0 picks a free one)")
    return value


def add_parser(commands: Any) -> None:
    """Register ``simulator`` on the CLI's subcommands (an ``argparse`` subparsers action)."""
    sim = commands.add_parser(
        "simulator",
        help="serve a simulated cloud on a local port (offline; needs the simulator extra)",
        description=DESCRIPTION,
    )
    sim.add_argument(
        "--port", type=_port, default=8080, help="the port (default 8080; 0 picks a free one)"
    )
    sim.add_argument("--host", default="127.0.0.1", help="the address (default 127.0.0.1)")
    sim.add_argument(
        "--fleet", type=_count, default=10, metavar="N", help="plants in the fleet (default 10)"
    )
    sim.add_argument(
        "--thermostats",
        type=_count,
        default=2,
        metavar="N",
        help="thermostats in each plant (default 2)",
    )
    sim.add_argument(
        "--faults",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of data calls that fail (408, 486, 5xx, latency, dropped or cut answers), "
        "0..1 (default 0)",
    )
    sim.add_argument(
        "--per-second", type=_positive, metavar="N", help="rate limit: 429 above N calls a second"
    )
    sim.add_argument(
        "--per-day", type=_count, metavar="N", help="daily quota: 403 after N calls (UTC day)"
    )
    sim.add_argument(
        "--seed", type=int, default=0, metavar="N", help="the fleet and the faults (default 0)"
    )
    # Where the real cloud's behaviour is unknown (docs/simulator.md, "Choices").
    sim.add_argument(
        "--reuse-refresh-tokens",
        action="store_true",
        help="a refresh token stays good once used (default: refused, AADB2C90129)",
    )
    sim.add_argument(
        "--device-zone",
        type=_zone,
        metavar="ZONE",
        help="the zone of activation times sent without an offset (default UTC)",
    )
    sim.add_argument(
        "--json",
        action="store_true",
        help="print what a client needs as one JSON object (the base URL, the credentials, the "
        "variables to export) instead of the text",
    )
    sim.add_argument(
        "--hc-form-bodies",
        action="store_true",
        help="Home + Control also takes form-encoded bodies (default: JSON only)",
    )


def simulator_for(args: argparse.Namespace) -> Simulator:
    """The simulator the command's arguments describe."""
    return Simulator.fleet(
        plants=args.fleet,
        thermostats_per_plant=args.thermostats,
        seed=args.seed,
        fault_rate=args.faults,
        per_second=args.per_second,
        per_day=args.per_day,
        reuse_refresh_tokens=args.reuse_refresh_tokens,
        device_zone=args.device_zone or UTC,
        hc_form_bodies=args.hc_form_bodies,
    )


def _client_url(host: str, served: str) -> str:
    """The URL a client on this machine uses (a wildcard address is not one to connect to)."""
    port = served.rpartition(":")[2]
    if host in ("", "0.0.0.0"):  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _check_free(host: str, port: int) -> None:
    """Raise OSError when the port is taken (the server would exit the process instead)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def environment(sim: Simulator, base_url: str, token: str) -> list[tuple[str, str]]:
    """The variables the docs' examples read, set for this simulator and access ``token``:
    (name, value) pairs."""
    pairs = [
        ("LEGRAND_BASE_URL", base_url),
        ("LEGRAND_AUTH_URL", base_url),
        ("LEGRAND_SUBSCRIPTION_KEY", sim.subscription_key),
        ("LEGRAND_ACCESS_TOKEN", token),
        ("LEGRAND_CLIENT_ID", sim.client_id),
        ("LEGRAND_CLIENT_SECRET", sim.client_secret),
        ("LEGRAND_REDIRECT_URI", sim.redirect_uri),
    ]
    if sim.plants:
        plant = sim.plants[0]
        pairs.append(("LEGRAND_PLANT_ID", plant.id))
        if plant.thermostats:
            pairs.append(("LEGRAND_MODULE_ID", plant.thermostats[0].id))
        pairs.append(("LEGRAND_HC_PLANT_ID", plant.hc_id))
        plugs = [m.id for m in plant.state.all_hc_modules() if m.kind == "plug"]
        if plugs:
            pairs.append(("LEGRAND_HC_MODULE_ID", plugs[0]))
        if plant.door_units:
            pairs.append(("LEGRAND_DEVICE_ID", plant.door_units[0]))
    pairs.append(("LEGRAND_WEBHOOK_URL", "https://example.com/legrand/webhook"))
    return pairs


def describe(sim: Simulator, base_url: str, args: argparse.Namespace) -> str:
    """What the command prints once the server is up."""
    token = sim.access_token()
    limits = [f"faults {args.faults:.0%}" if args.faults else "no faults"]
    limits.append(f"{args.per_second} calls/s" if args.per_second else "no rate limit")
    limits.append(f"{args.per_day} calls/day" if args.per_day is not None else "no daily quota")
    lines = [
        f"Legrand developer cloud simulator on {base_url}",
        f"  {len(sim.plants)} plants, {args.thermostats} thermostats each, seed {args.seed}; "
        + ", ".join(limits),
        "",
        f"Base URL:          {base_url}",
        "                   (LegrandClient base_url=, OAuthApp auth_url=)",
        f"Subscription key:  {sim.subscription_key}",
        f"Client id:         {sim.client_id}",
        f"Client secret:     {sim.client_secret}",
        f"Redirect URI:      {sim.redirect_uri}",
        "                   (any redirect URI is accepted; consent is automatic)",
        f"Access token:      {token}",
        "                   (valid one hour; or sign in at /authorize and /token)",
    ]
    if sim.plants:
        plant = sim.plants[0]
        lines.append(f"Plant id:          {plant.id}   ({plant.name}; Smarther, Multisocket)")
        if plant.thermostats:
            lines.append(f"Thermostat id:     {plant.thermostats[0].id}")
        lines.append(f"H+C plant id:      {plant.hc_id}")
        if plant.door_units:
            lines.append(f"Door entry unit:   {plant.door_units[0]}")
    login = "./simulator-login"
    lines += [
        "",
        f"Sign in with the CLI (the login is saved in {login}, not over your own):",
        f"  legrand-async login --config {login} --auth-url {base_url} --base-url {base_url} \\",
        f"    --client-id {sim.client_id} --client-secret {sim.client_secret} \\",
        f"    --subscription-key {sim.subscription_key} --redirect-uri {LISTEN_REDIRECT} --listen",
        f"  legrand-async plants --config {login}",
        "",
        "For the examples in the docs (sh, bash, zsh):",
        *(f"  export {name}={value}" for name, value in environment(sim, base_url, token)),
        f"  export LEGRAND_TOKEN_FILE={login}/token.json   # once signed in as above",
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
    """Stop on SIGINT and SIGTERM (where the loop can handle signals); the ones handled."""
    handled: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, not the main thread
            continue
        handled.append(sig)
    return handled


async def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Serve until Ctrl-C, SIGTERM or cancellation; the exit status, 0."""
    out = out if out is not None else sys.stdout
    _check_free(args.host, args.port)
    sim = simulator_for(args)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    async with sim.serve(port=args.port, host=args.host) as served:
        handled = _on_signals(loop, stop)
        try:
            base_url = _client_url(args.host, served)
            if args.json:
                token = sim.access_token()
                facts = {
                    "base_url": base_url,
                    "environment": dict(environment(sim, base_url, token)),
                }
                print(json.dumps(facts), file=out, flush=True)
            else:
                print(describe(sim, base_url, args), file=out, flush=True)
            await stop.wait()
        except asyncio.CancelledError:
            # Cancelled (Ctrl-C before the handlers were set, a test): stop, exit 0. Taken
            # back, so that the server's task groups end normally rather than cancelled.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
    if not args.json:  # with --json, the output is the one object
        print("Simulator stopped.", file=out, flush=True)
    return 0
