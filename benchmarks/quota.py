"""How close the limiter paces a fleet to the gateway's per-second limit, and whether it trips it.

A simulated cloud with ``--thermostats`` thermostats (one per plant) enforces ``--per-second``
calls per second (a 429 with ``Retry-After`` above it, as API Management does; no daily quota).
A client with ``rate_limit=RateLimit(per_second=N, per_day=None)`` polls ``get_status`` round
robin over every thermostat from ``--workers`` concurrent tasks for ``--warm-up`` plus
``--seconds`` seconds of real time: both sides use the real clock (``SystemClock``), so the rate
is wall-clock honest. The simulator runs in this process, reached through the in-process ASGI
transport, or with ``--serve`` over a loopback socket (uvicorn, ``Simulator.serve()``).

Figures:

- calls: ``get_status`` calls that returned a status (the whole run), and errors by type;
- the achieved rate, measured on the gateway's side over whole periods: from the first call let
  through after the warm-up to the first one ``--seconds`` later, calls let through divided by
  the time between (so a burst at the edge of the window is neither counted twice nor missed);
- that rate as a fraction of the limit (the aim: >= 0.98);
- the 429s, as the client counted them (``client.stats.statuses[429]``) and as the simulator
  answered them (the aim: 0).

Before that, the cost of one ``RateLimit.acquire()`` (real clock, one task, no wait) for
``--acquire-seconds`` seconds: in memory, and with a ``FileQuotaStore`` written behind (every
``flush_delay`` = 1 s, in a worker thread, off the limiter's lock), median, 99th percentile and
worst case side by side, with the writes made. The aim: a median of at most 50 µs with the
store.

The exit status is 1 when the ratio is below 0.98, a 429 was seen, or the acquire aim is
missed. ``--no-limiter`` runs the control: the same client with ``rate_limit=None``, where only
the retry loop's ``Retry-After`` waits hold the workers back. ``--acquire-only`` measures the
acquire cost alone.

Run: ``python benchmarks/quota.py [--seconds 30] [--thermostats 1000] [--per-second 20]
[--workers 40] [--warm-up 2] [--serve] [--no-limiter] [--acquire-seconds 3] [--acquire-only]``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import importlib.util
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("legrand_async") is None:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing, like scripts/

from legrand_async import FileQuotaStore, LegrandClient, RateLimit  # noqa: E402
from legrand_async.simulator import Simulator  # noqa: E402

#: The ratio of the achieved rate to the limit the benchmark aims for.
TARGET = 0.98
#: The median cost of one acquire with a FileQuotaStore the benchmark aims for (µs).
ACQUIRE_AIM_US = 50.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class Gateway:
    """What the simulated gateway answered: statuses, and when each call was let through."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.passed: list[float] = []  # time.monotonic() of every 2xx response start

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def counted(
            scope: Scope,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            async def send_counted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    self.statuses[status] += 1
                    if 200 <= status < 300:
                        self.passed.append(time.monotonic())
                await send(message)

            await app(scope, receive, send_counted)

        return counted


def steady_rate(times: list[float], start: float, seconds: float) -> tuple[int, float]:
    """Calls and seconds over whole periods: from the first call at or after ``start`` to the
    first one at or after that plus ``seconds`` (that one excluded)."""
    first = bisect.bisect_left(times, start)
    if first >= len(times):
        return 0, 0.0
    begin = times[first]
    last = bisect.bisect_left(times, begin + seconds)
    if last >= len(times):  # the run ended before a call closed the window
        return last - first, times[-1] - begin
    return last - first, times[last] - begin


async def run(args: argparse.Namespace) -> int:
    sim = Simulator.fleet(
        plants=args.thermostats, thermostats_per_plant=1, seed=0, per_second=args.per_second
    )
    gateway = Gateway()
    sim.app.asgi = gateway.wrap(sim.app.asgi)  # seen by both the transport and serve()
    pairs = [(plant.id, t.id) for plant in sim.plants for t in plant.thermostats]
    assert len(pairs) == args.thermostats
    limit = None if args.no_limiter else RateLimit(per_second=args.per_second, per_day=None)

    async def poll(client: LegrandClient) -> tuple[int, Counter[str], float]:
        targets = itertools.cycle(pairs)
        calls = 0
        errors: Counter[str] = Counter()

        async def worker() -> None:
            nonlocal calls
            while True:
                plant, module = next(targets)
                try:
                    await client.smarther.get_status(plant, module)
                except Exception as exc:  # every failure is a figure of the benchmark
                    errors[type(exc).__name__] += 1
                else:
                    calls += 1

        started = time.monotonic()
        # One second more than asked, so that a call closes the measured window.
        duration = args.warm_up + args.seconds + 1.5
        tasks = [asyncio.create_task(worker()) for _ in range(args.workers)]
        try:
            await asyncio.sleep(duration)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return calls, errors, started

    if args.serve:
        async with (
            sim.serve() as base_url,
            sim.client(
                base_url=base_url, transport=httpx.AsyncHTTPTransport(), rate_limit=limit
            ) as client,
        ):
            where = f"simulator on {base_url} (loopback socket, uvicorn)"
            calls, errors, started = await poll(client)
            client_429 = client.stats.statuses[429]
    else:
        async with sim.client(rate_limit=limit) as client:
            where = "simulator in process (ASGI transport)"
            calls, errors, started = await poll(client)
            client_429 = client.stats.statuses[429]

    measured, seconds = steady_rate(gateway.passed, started + args.warm_up, args.seconds)
    rate = measured / seconds if seconds > 0 else 0.0
    ratio = rate / args.per_second
    print(where)
    print(
        f"{args.thermostats} thermostats, {args.workers} workers polling get_status round robin, "
        f"limit {args.per_second} calls/s (simulator), client rate_limit={limit!r}"
    )
    answered = sum(gateway.statuses.values())
    print(f"calls made:      {calls} returned a status ({answered} answered by the simulator)")
    print(f"errors:          {dict(errors) if errors else 0}")
    print(
        f"measured:        {measured} calls let through in {seconds:.3f} s after a "
        f"{args.warm_up:g} s warm-up"
    )
    print(f"achieved rate:   {rate:.3f} calls/s")
    print(f"ratio to limit:  {ratio:.4f} (aim >= {TARGET})")
    print(f"429s:            {client_429} (client.stats), {gateway.statuses[429]} (simulator)")
    ok = ratio >= TARGET and client_429 == 0 and gateway.statuses[429] == 0
    print("result:          " + ("OK" if ok else "BELOW THE AIM"))
    return 0 if ok else 1


async def acquire_costs(seconds: float, store: FileQuotaStore | None) -> tuple[list[float], int]:
    """Microseconds of every ``acquire()`` made in ``seconds``; the count the store holds."""
    rate = RateLimit(per_second=None, per_day=None, store=store)
    await rate.load()
    costs: list[float] = []
    end = time.perf_counter() + seconds
    while True:
        started = time.perf_counter_ns()
        await rate.acquire()
        costs.append((time.perf_counter_ns() - started) / 1000)
        if started > end * 1e9:
            break
    await rate.flush()
    assert rate.store_error is None, rate.store_error
    return costs, json.loads(store.path.read_text())["used"] if store is not None else 0


async def acquire_benchmark(seconds: float) -> bool:
    """Print the cost of an acquire in memory and with a FileQuotaStore; whether the aim is met."""
    with tempfile.TemporaryDirectory() as directory:
        memory, _ = await acquire_costs(seconds, None)
        store = FileQuotaStore(Path(directory) / "quota.json")
        stored, kept = await acquire_costs(seconds, store)
    print(f"RateLimit.acquire() for {seconds:g} s, one task, no wait (µs per call):")
    print(f"{'':16}{'calls':>10}{'median':>10}{'p99':>10}{'max':>12}")
    for name, costs in (("in memory", memory), ("FileQuotaStore", stored)):
        costs = sorted(costs)
        p99 = costs[int(len(costs) * 0.99)]
        print(
            f"{name:16}{len(costs):>10}{statistics.median(costs):>10.2f}{p99:>10.2f}"
            f"{costs[-1]:>12.1f}"
        )
    median = statistics.median(stored)
    ratio = median / statistics.median(memory)
    print(
        f"FileQuotaStore / in memory (median): {ratio:.2f}; the file holds {kept} of "
        f"{len(stored)} calls"
    )
    ok = median <= ACQUIRE_AIM_US and kept == len(stored)
    print(
        f"acquire result:  {'OK' if ok else 'BELOW THE AIM'} (median {median:.2f} µs with "
        f"FileQuotaStore, aim <= {ACQUIRE_AIM_US:g} µs)"
    )
    return ok


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=positive(float), default=30.0, help="measured seconds")
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help="seconds before the measurement starts"
    )
    parser.add_argument("--thermostats", type=positive(int), default=1000)
    parser.add_argument("--per-second", type=positive(int), default=20, help="the gateway limit")
    parser.add_argument("--workers", type=positive(int), default=40, help="concurrent pollers")
    parser.add_argument("--serve", action="store_true", help="over a loopback socket")
    parser.add_argument(
        "--no-limiter", action="store_true", help="the control: rate_limit=None (expect 429s)"
    )
    parser.add_argument(
        "--acquire-seconds", type=positive(float), default=3.0, help="acquire cost run"
    )
    parser.add_argument("--acquire-only", action="store_true", help="the acquire cost alone")
    args = parser.parse_args(argv)
    if args.warm_up < 0 or args.seconds > 3600 or args.thermostats > 100_000:
        parser.error("--warm-up >= 0, --seconds <= 3600, --thermostats <= 100000")
    acquire_ok = asyncio.run(acquire_benchmark(args.acquire_seconds))
    if args.acquire_only:
        return 0 if acquire_ok else 1
    print()
    status = asyncio.run(run(args))
    return status if acquire_ok else 1


if __name__ == "__main__":
    sys.exit(main())
