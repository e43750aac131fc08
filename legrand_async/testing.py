"""Pytest fixtures for testing your own code against the embedded simulator.

Registered as a pytest plugin (entry point ``pytest11``, name ``legrand_async``: ``-p
no:legrand_async`` turns it off) when ``legrand-async`` is installed; the fixtures need the
``simulator`` extra. ::

    from legrand_async import LegrandClient, SetStatus
    from legrand_async.simulator import Simulator
    from legrand_async.testing import FakeClock


    async def test_boost_ends(legrand_simulator: Simulator, legrand_client: LegrandClient,
                              legrand_clock: FakeClock) -> None:
        plant = legrand_simulator.plants[0]
        ...

Fixtures:

``legrand_clock``
    A :class:`FakeClock`: the simulator's and the client's time. It moves only when you
    :meth:`~FakeClock.advance` it or when something sleeps on it (a retry waiting for
    ``Retry-After``, a simulated latency), so tests never wait.
``legrand_simulator_options``
    The keyword arguments of ``Simulator.fleet`` (default: 3 plants of 2 thermostats, seed 0).
    Override the fixture to change them for a module or a whole directory, or mark one test
    with ``@pytest.mark.legrand_simulator(plants=10, fault_rate=0.2)``.
``legrand_simulator``
    A fresh :class:`~legrand_async.simulator.Simulator` per test, on ``legrand_clock``.
``legrand_client``
    A :class:`~legrand_async.LegrandClient` wired to it (see :func:`signed_in_client`): it holds
    a login of the simulator's OAuth server and refreshes it however far you move the clock,
    waits on the same clock, and retries without backoff. It is a plain (synchronous) fixture
    and nothing in it belongs to an event loop, so it works with pytest-asyncio (strict or auto
    mode), with anyio's pytest plugin, and in synchronous tests.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio.lowlevel
import pytest

from ._auth import MemoryTokenStore, OAuth2Auth, Token
from ._client import LegrandClient
from ._transport.retry import RetryPolicy

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = [
    "DEFAULT_OPTIONS",
    "DEFAULT_START",
    "FakeClock",
    "StepClock",
    "legrand_client",
    "legrand_clock",
    "legrand_simulator",
    "legrand_simulator_options",
    "signed_in_client",
]

#: When a :class:`FakeClock` starts unless told otherwise: a winter Monday morning, UTC.
DEFAULT_START = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)
#: The ``Simulator.fleet`` arguments of the ``legrand_simulator`` fixture.
DEFAULT_OPTIONS: dict[str, Any] = {"plants": 3, "thermostats_per_plant": 2, "seed": 0}
MARKER = "legrand_simulator"


class FakeClock:
    """A clock that moves only when told to: pass it as ``clock=`` to the simulator and clients.

    ``now()`` starts at ``start`` (aware; default :data:`DEFAULT_START`), ``monotonic()`` at 0.
    ``sleep(seconds)`` does not wait: it moves the clock by ``seconds`` (and lets other tasks
    run), so a client waiting out a ``Retry-After`` or a simulated latency returns at once, with
    the time passed. ``sleeps`` lists every sleep asked for.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if not isinstance(start, datetime) or start.utcoffset() is None:
            raise ValueError("start must be an aware datetime")
        self._now = start.astimezone(UTC)
        self._monotonic = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._monotonic

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)
        await anyio.lowlevel.checkpoint()  # like a real sleep, let other tasks run

    def advance(self, seconds: float | timedelta) -> None:
        """Move the clock forward (a float of seconds, or a timedelta)."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if not seconds >= 0:
            raise ValueError("the clock only moves forward")
        self._monotonic += seconds
        self._now += timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now.isoformat()})"


class StepClock(FakeClock):
    """A :class:`FakeClock` for several tasks at once: a sleep waits its turn in fake time.

    ``sleep(seconds)`` waits until :meth:`run` (one task of yours, beside the others) has moved
    the clock to its wake-up time, which it does only when every other task is waiting (none is
    ready to run): the sleepers wake in the order of their times, each at its own time, as on a
    real clock, without the wait. With nothing asleep time stands still. asyncio only.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        super().__init__(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if not seconds > 0:
            await anyio.lowlevel.checkpoint()
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.monotonic() + seconds, next(self._order), wake))
        await wake

    async def run(self, until: float | None = None) -> None:
        """Move the clock from sleeper to sleeper, whenever the other tasks all wait; until
        cancelled, or until the monotonic time ``until`` (then returns, the clock at it)."""
        loop = asyncio.get_running_loop()
        while True:
            await _settled(loop)
            heap = self._sleepers
            while heap and heap[0][2].done():  # cancelled sleepers
                heapq.heappop(heap)
            if not heap:
                if until is not None:
                    self.advance(max(0.0, until - self.monotonic()))
                    return
                await asyncio.sleep(0)
                continue
            at = heap[0][0]
            if until is not None and at > until:
                self.advance(max(0.0, until - self.monotonic()))
                return
            self.advance(max(0.0, at - self.monotonic()))
            while heap and heap[0][0] <= at:
                wake = heapq.heappop(heap)[2]
                if not wake.done():
                    wake.set_result(None)


async def _settled(loop: asyncio.AbstractEventLoop) -> None:
    """Return once no other task is ready to run (three idle turns of the loop in a row)."""
    idle = 0
    while idle < 3:
        await asyncio.sleep(0)
        ready = getattr(loop, "_ready", None)  # asyncio's run queue: the tasks ready to go
        idle = idle + 1 if ready is not None and not ready else 0
        if ready is None:  # another loop: a fixed number of turns
            idle += 1


def signed_in_client(sim: Simulator, **kwargs: Any) -> LegrandClient:
    """A client of ``sim`` holding a fresh login that refreshes itself through the simulator.

    Built without an event loop (the token is issued directly), so it can be made anywhere;
    ``kwargs`` go to ``sim.client`` (default: no backoff between retries, the simulator's clock).
    """
    issued = sim.app.issue_token()
    token = Token(
        issued["access_token"],
        issued["refresh_token"],
        sim.clock.now() + timedelta(seconds=issued["expires_in"]),
        issued["scope"],
    )
    kwargs.setdefault("auth", OAuth2Auth(sim.oauth_app(), MemoryTokenStore(token)))
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0, max_delay=0))
    kwargs.setdefault("clock", sim.clock)
    kwargs.setdefault("rng", random.Random(0))  # noqa: S311 - jitter
    return sim.client(**kwargs)


def _close_at_once(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (closing an in-process client) without a loop."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("closing the client needed an event loop")  # pragma: no cover


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): Simulator.fleet options for this test's legrand_simulator "
        "(plants, thermostats_per_plant, seed, fault_rate, per_second, per_day, "
        "webhook_transport)",
    )


@pytest.fixture
def legrand_clock() -> FakeClock:
    """The fake clock of ``legrand_simulator`` and ``legrand_client``."""
    return FakeClock()


@pytest.fixture
def legrand_simulator_options() -> dict[str, Any]:
    """``Simulator.fleet`` keyword arguments; override this fixture to change them."""
    return dict(DEFAULT_OPTIONS)


@pytest.fixture
def legrand_simulator(
    request: pytest.FixtureRequest,
    legrand_simulator_options: dict[str, Any],
    legrand_clock: FakeClock,
) -> Simulator:
    """A fresh simulated cloud for one test, on ``legrand_clock``."""
    try:
        from .simulator import Simulator
    except ImportError as exc:
        raise ImportError(
            "the legrand_simulator fixture needs: pip install 'legrand-async[simulator]'"
        ) from exc

    options = {**DEFAULT_OPTIONS, "clock": legrand_clock, **legrand_simulator_options}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # closest last
        if marker.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        options.update(marker.kwargs)
    return Simulator.fleet(**options)


@pytest.fixture
def legrand_client(legrand_simulator: Simulator) -> Iterator[LegrandClient]:
    """A LegrandClient signed in to ``legrand_simulator``, closed after the test."""
    client = signed_in_client(legrand_simulator)
    try:
        yield client
    finally:
        _close_at_once(client.aclose())
