"""How fast the WebhookReceiver acknowledges Legrand's notifications while the consumer is slow.

Legrand bans an endpoint that takes longer than 750 ms to answer. This starts a receiver with
uvicorn on a loopback port, a consumer that sleeps 50 ms per event, then POSTs the fixture
notification 200 times concurrently (each with its own event id, so none is a duplicate) and
prints the acknowledgement latency seen by the client (connection set-up included) and the
time spent inside the receiver: the ack must not depend on the consumer (aim: p99 <= 50 ms).
The client and the server share one event loop and one core here, so the client-side figure
includes the queueing of 200 simultaneous requests behind each other.

    python benchmarks/webhook_ack.py [--requests 200] [--consumer-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from legrand_async.webhooks import WebhookReceiver

FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "smarther_c2c_event.json"
SECRET = "bench-secret-0123456789abcdef"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _consume(receiver: WebhookReceiver, delay: float, seen: list[int]) -> None:
    async for _ in receiver.events():
        await asyncio.sleep(delay)  # a deliberately slow consumer
        seen[0] += 1


async def run(requests: int, consumer_ms: float) -> dict[str, Any]:
    template = json.loads(FIXTURE.read_text())
    bodies = []
    for i in range(requests):
        body = copy.deepcopy(template)
        body[0]["id"] = f"bench-{i:05d}"
        bodies.append(json.dumps(body).encode())

    receiver = WebhookReceiver(SECRET, queue_size=requests)
    handled: list[float] = []  # inside the app: from the request to the response start

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["type"] == "http":
                handled.append((time.perf_counter() - start) * 1000)
            await send(message)

        await receiver(scope, receive, sending)

    config = uvicorn.Config(
        timed, host="127.0.0.1", port=0, log_level="critical", lifespan="off", backlog=4096
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    seen = [0]
    consumer = asyncio.create_task(_consume(receiver, consumer_ms / 1000, seen))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/legrand/hook/{SECRET}"
        limits = httpx.Limits(max_connections=requests, max_keepalive_connections=requests)
        async with httpx.AsyncClient(limits=limits, timeout=10) as http:
            await http.post(url, content=b"{}")  # warm up (a 400)
            handled.clear()

            async def post(body: bytes) -> tuple[float, int]:
                start = time.perf_counter()
                response = await http.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                return (time.perf_counter() - start) * 1000, response.status_code

            async with asyncio.timeout(60):
                results = await asyncio.gather(*(post(b) for b in bodies))
    finally:
        consumer.cancel()
        server.should_exit = True
        await asyncio.gather(consumer, serving, return_exceptions=True)

    latencies = [ms for ms, _ in results]
    return {
        "requests": requests,
        "ok": sum(1 for _, code in results if code == 200),
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "app_p50_ms": statistics.median(handled),
        "app_p99_ms": _percentile(handled, 0.99),
        "app_max_ms": max(handled),
        "received": receiver.received,
        "dropped": receiver.dropped,
        "duplicates": receiver.duplicates,
        "consumed_during_run": seen[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--consumer-ms", type=float, default=50.0)
    args = parser.parse_args()
    r = asyncio.run(run(args.requests, args.consumer_ms))
    print(
        f"{r['requests']} concurrent POSTs, consumer {args.consumer_ms:g} ms/event: {r['ok']} x 200"
    )
    print(
        f"ack latency: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms"
    )
    print(
        f"inside the receiver: p50 {r['app_p50_ms']:.2f} ms, p99 {r['app_p99_ms']:.2f} ms, "
        f"max {r['app_max_ms']:.2f} ms"
    )
    print(
        f"received {r['received']}, dropped {r['dropped']}, duplicates {r['duplicates']}, "
        f"consumed while posting {r['consumed_during_run']}"
    )
    verdict = "ok" if r["p99_ms"] <= 50 else "ABOVE the 50 ms aim"
    print(f"p99 target 50 ms: {verdict} (Legrand's ban threshold is 750 ms)")


if __name__ == "__main__":
    main()
