"""Client overhead versus raw httpx, against a loopback HTTP server this script starts itself.

The server (standard library only: asyncio streams, HTTP/1.1 keep-alive, ``Content-Length``)
runs in a child process on ``127.0.0.1`` with an ephemeral port and serves the Smarther status
fixture from ``tests/fixtures/smarther_status.json``. Against it we time ``--calls`` sequential
and ``--calls`` concurrent (``--concurrency`` at a time) calls of:

- raw: ``httpx.AsyncClient().get(url, headers=...)`` followed by ``json.loads(response.content)``;
- ours: ``LegrandClient(...).smarther.get_status(plant, module)`` (the same URL and credentials,
  plus validation, retry and rate-limit transports, auth flow and structuring into
  ``ChronothermostatStatus``).

Each mode gets a fresh pair of clients (so the sequential figures are not slowed by a pool the
concurrent mode grew), which are checked against the fixture and warmed up; then raw and ours
run in rounds of interleaved blocks (``--block`` calls each, ABBA order) to reduce drift. The
table shows the best round's microseconds per call (wall clock, ``time.perf_counter``) and
ours / raw three ways: of the best rounds, as the median over the back-to-back blocks, and of
this process's CPU time (``time.process_time``, which other load on the machine disturbs less).
Nothing leaves the loopback interface.

The aim is ours / raw <= 1.10 in both modes, read on the best rounds' ratio (each side's
fastest round: a burst of other load on the machine slows some blocks, not every round); the
script exits 1 when it is missed.
What keeps it there: the retry loop runs the first attempt outside tenacity, and the innermost
transport reads each body once (the client does not read or parse it again).

Run: ``python benchmarks/overhead.py [--calls 2000] [--concurrency 50] [--rounds 3] [--block 250]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import httpx

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("legrand_async") is None:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing, like scripts/

from legrand_async import ChronothermostatStatus, LegrandClient, RateLimit  # noqa: E402

PLANT = "b5e48d6f-cbad-2711-e053-27182d0ad74c"
MODULE = "1ee68d6f-46b7-8f11-e053-27182d0a846a"
PATH = (
    "/smarther/v2.0/chronothermostat/thermoregulation/addressLocation/plants/"
    f"{PLANT}/modules/parameter/id/value/{MODULE}"
)
FIXTURE = ROOT / "tests" / "fixtures" / "smarther_status.json"
KEY = "k"
TOKEN = "t"

#: Upper bound on the whole run (seconds); the server exits by itself a minute after that.
DEADLINE = 300.0
#: Upper bound on any single request (seconds).
REQUEST_TIMEOUT = 10.0
#: Largest request head the server accepts.
MAX_HEAD = 16 * 1024

Call = Callable[[], Awaitable[object]]


# --------------------------------------------------------------------------------------------
# The server (child process)
# --------------------------------------------------------------------------------------------


def _response(status: str, body: bytes, *, close: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ok: bytes, path: bytes
) -> None:
    not_found = _response("404 Not Found", b'{"statusCode":404,"message":"not found"}')
    unauthorized = _response("401 Unauthorized", b'{"statusCode":401,"message":"no key"}')
    bad = _response("400 Bad Request", b'{"statusCode":400,"message":"bad request"}', close=True)
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                writer.write(bad)
                await writer.drain()
                return
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) != 3:
                writer.write(bad)
                await writer.drain()
                return
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0") or b"0")
            if length:
                await reader.readexactly(length)
            if parts[1] != path:
                writer.write(not_found)
            elif (
                headers.get(b"ocp-apim-subscription-key") != KEY.encode()
                or headers.get(b"authorization") != f"Bearer {TOKEN}".encode()
            ):
                writer.write(unauthorized)
            else:
                writer.write(ok)
            await writer.drain()
            if headers.get(b"connection", b"").lower() == b"close":
                return
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _serve(body: bytes, control: Connection) -> None:
    ok = _response("200 OK", body)
    path = PATH.encode("ascii")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_parent() -> None:
        # Returns when the parent says "stop" or its end of the pipe goes away.
        with contextlib.suppress(EOFError, OSError):
            control.recv()
        loop.call_soon_threadsafe(stop.set)

    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, ok, path),
        host="127.0.0.1",
        port=0,
        limit=MAX_HEAD,
        backlog=512,
    )
    control.send(server.sockets[0].getsockname()[1])
    threading.Thread(target=watch_parent, daemon=True).start()
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=DEADLINE + 60)
        server.close()


def _server_main(body: bytes, control: Connection) -> None:
    asyncio.run(_serve(body, control))


class LoopbackServer:
    """The fixture server in a child process, so that it does not share our event loop or GIL."""

    def __init__(self, body: bytes) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(target=_server_main, args=(body, child), daemon=True)
        self._process.start()
        child.close()
        if not self._control.poll(30):
            self.stop()
            raise RuntimeError("the loopback server did not start within 30 s")
        self.port: int = self._control.recv()
        self.pid = self._process.pid

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._control.send("stop")
        self._control.close()
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --------------------------------------------------------------------------------------------
# The client side
# --------------------------------------------------------------------------------------------


class Sample(NamedTuple):
    """One timed run: wall-clock seconds (perf_counter) and this process's CPU seconds."""

    wall: float
    cpu: float


async def run_sequential(call: Call, calls: int) -> Sample:
    """``calls`` calls one after the other."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return Sample(time.perf_counter() - wall, time.process_time() - cpu)


async def run_concurrent(call: Call, calls: int, concurrency: int) -> Sample:
    """``calls`` calls made by ``concurrency`` workers sharing the count."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    wall, cpu = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, calls)):
            group.create_task(worker())
    return Sample(time.perf_counter() - wall, time.process_time() - cpu)


class Measurement(NamedTuple):
    """One mode: a sample per round and side, and ours / raw (wall) of every back-to-back block."""

    raw: list[Sample]
    ours: list[Sample]
    pairs: list[float]


Run = Callable[[Call, int], Awaitable[Sample]]


def blocks(calls: int, block: int) -> list[int]:
    """``calls`` split into blocks of ``block`` (the last one takes the remainder)."""
    count = max(1, calls // block)
    sizes = [calls // count] * count
    sizes[-1] += calls - sum(sizes)
    return sizes


@contextlib.asynccontextmanager
async def clients(base_url: str) -> AsyncIterator[tuple[Call, Call]]:
    """``(raw, ours)``: one ``get_status`` call each, on fresh clients (and connection pools)."""
    url = base_url + PATH
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http,
        LegrandClient(
            subscription_key=KEY,
            access_token=TOKEN,
            base_url=base_url,
            timeout=REQUEST_TIMEOUT,
            rate_limit=RateLimit(per_day=None),  # the limiter's bookkeeping, without its limits
        ) as client,
    ):

        async def raw() -> Any:
            response = await http.get(url, headers=headers)
            response.raise_for_status()
            return json.loads(response.content)

        async def ours() -> ChronothermostatStatus:
            return await client.smarther.get_status(PLANT, MODULE)

        yield raw, ours


async def measure(
    base_url: str, run: Run, calls: int, block: int, warm_up: int, rounds: int
) -> Measurement:
    """One mode on fresh clients: check, warm up, then ``rounds`` of ``calls`` calls per side.

    A round runs raw and ours in alternating blocks of about ``block`` calls (ABBA order), so
    that both see the same machine: other load changes on a scale of seconds.
    """
    async with clients(base_url) as (raw, ours):
        document = await raw()
        if document != json.loads(FIXTURE.read_bytes()):
            raise RuntimeError("the raw client did not get the fixture")
        status = await ours()
        if not isinstance(status, ChronothermostatStatus) or status.plant_id != PLANT:
            raise RuntimeError(f"the client did not get the fixture: {status!r}")
        for call in (raw, ours):
            await run(call, warm_up)
        result = Measurement([], [], [])
        sides: list[tuple[str, Call]] = [("raw", raw), ("ours", ours)]
        flip = False
        for _ in range(rounds):
            totals = {"raw": Sample(0.0, 0.0), "ours": Sample(0.0, 0.0)}
            for size in blocks(calls, block):
                pair: dict[str, Sample] = {}
                for name, call in sides[::-1] if flip else sides:
                    pair[name] = sample = await run(call, size)
                    total = totals[name]
                    totals[name] = Sample(total.wall + sample.wall, total.cpu + sample.cpu)
                result.pairs.append(pair["ours"].wall / pair["raw"].wall)
                flip = not flip
            result.raw.append(totals["raw"])
            result.ours.append(totals["ours"])
    return result


#: The aim: ours / raw (best rounds) in every mode.
AIM = 1.10


def print_table(results: dict[str, Measurement], calls: int, rounds: int) -> None:
    """µs per call (best round) for raw and ours, and ours / raw three ways."""
    print(f"{calls} calls per round and side, {rounds} round(s); µs per call = best round (wall)")
    print("ratio = ours / raw of those; paired = median of ours / raw over the back-to-back")
    print("blocks (robust to drift); cpu = ours / raw of this process's CPU time, best rounds")
    header = (
        f"{'mode':<15} {'raw µs/call':>11} {'ours µs/call':>12} {'ratio':>6} {'paired':>6}"
        f" {'cpu':>6}"
    )
    print(header)
    print("-" * len(header))
    for mode, result in results.items():
        raw_wall = min(s.wall for s in result.raw)
        ours_wall = min(s.wall for s in result.ours)
        cpu = min(s.cpu for s in result.ours) / min(s.cpu for s in result.raw)
        print(
            f"{mode:<15} {raw_wall / calls * 1e6:>11.1f} {ours_wall / calls * 1e6:>12.1f}"
            f" {ours_wall / raw_wall:>6.3f} {statistics.median(result.pairs):>6.3f} {cpu:>6.3f}"
        )


def aim_met(results: dict[str, Measurement]) -> bool:
    """Print whether every mode's ours / raw (best rounds) is within :data:`AIM`."""
    met = True
    for mode, result in results.items():
        ratio = min(s.wall for s in result.ours) / min(s.wall for s in result.raw)
        ok = ratio <= AIM
        met = met and ok
        verdict = "met" if ok else "MISSED"
        print(f"aim {mode}: ours / raw {ratio:.3f} <= {AIM:.2f}: {verdict}")
    return met


async def bench(port: int, calls: int, concurrency: int, rounds: int, block: int) -> bool:
    """Both modes, each on its own fresh pair of clients, then the table; whether the aim is met."""
    base_url = f"http://127.0.0.1:{port}"
    warm_up = max(1, min(calls // 10, 200))

    async def sequential(call: Call, n: int) -> Sample:
        return await run_sequential(call, n)

    async def concurrent(call: Call, n: int) -> Sample:
        return await run_concurrent(call, n, concurrency)

    # A concurrent block needs several calls per worker, or ramp-up and tail dominate it.
    concurrent_block = max(block, 4 * concurrency)
    results = {
        "sequential": await measure(base_url, sequential, calls, block, warm_up, rounds),
        f"concurrent-{concurrency}": await measure(
            base_url, concurrent, calls, concurrent_block, max(warm_up, 4 * concurrency), rounds
        ),
    }
    print_table(results, calls, rounds)
    return aim_met(results)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=positive, default=2000, help="calls per round and mode")
    parser.add_argument("--concurrency", type=positive, default=50, help="calls in flight")
    parser.add_argument("--rounds", type=positive, default=3, help="rounds per side and mode")
    parser.add_argument(
        "--block", type=positive, default=250, help="calls per side before switching sides"
    )
    args = parser.parse_args(argv)
    if args.calls > 1_000_000 or args.concurrency > 1_000 or args.rounds > 100:
        parser.error("--calls <= 1000000, --concurrency <= 1000, --rounds <= 100")
    args.block = min(args.block, args.calls)

    if importlib.util.find_spec("sniffio") is None:
        print(
            "note: sniffio is not installed, so httpcore 1.0 retries `import sniffio` several "
            "times per request (encode/httpcore#1103); both sides pay it, diluting the ratio"
        )
    server = LoopbackServer(FIXTURE.read_bytes())
    try:
        print(f"loopback server: 127.0.0.1:{server.port} (child process {server.pid})")
        met = asyncio.run(asyncio.wait_for(bench(server.port, **vars(args)), timeout=DEADLINE))
    except TimeoutError:
        print(f"gave up after {DEADLINE:.0f} s", file=sys.stderr)
        return 1
    finally:
        server.stop()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
