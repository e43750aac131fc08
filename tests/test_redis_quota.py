"""RedisQuotaStore in one process, against a real redis-server: limiters naming one key share
one budget exactly; a lost answer, a Redis that lost its data, a Redis that is down."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
import redis.asyncio as redis

from legrand_async import QuotaExhausted, QuotaStoreUnavailable, RateLimit, ServerQuotaExhausted
from legrand_async._transport.deciding import Ask, Verdict
from legrand_async.redis import RedisQuotaStore

from .conftest import FakeClock
from .redis_server import RedisServer, free_port, new_key, own_redis_server, r, redis_server

__all__ = ["own_redis_server", "r", "redis_server"]

#: Noon of the real day: redis expires keys on its own (real) clock, so the fake wall clock
#: the day is read from must not be in the past of it by days.
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
NOON = TODAY + timedelta(hours=12)


def limiter(r: Any, key: str, clock: FakeClock, **kwargs: Any) -> RateLimit:
    store_args = {k: kwargs.pop(k) for k in ("timeout", "when_unavailable") if k in kwargs}
    return RateLimit(store=RedisQuotaStore(r, key, **store_args), clock=clock, **kwargs)


@pytest.mark.asyncio
async def test_limiters_on_one_key_share_the_day_exactly(r: Any) -> None:
    key, clock = new_key(), FakeClock(NOON)
    limits = [limiter(r, key, clock, per_day=10) for _ in range(3)]
    for i in range(10):
        await limits[i % 3].acquire()
    for i in range(5):
        with pytest.raises(QuotaExhausted) as caught:
            await limits[i % 3].acquire()
        assert caught.value.resets_at == TODAY + timedelta(days=1)
    for limit in limits:
        await limit.load()
    assert {limit.snapshot().used_today for limit in limits} == {10}
    # The hash expires by itself a day after its window ends (the redis clock is real time).
    expire_at = await r.pexpiretime(key) / 1000
    assert expire_at == (TODAY + timedelta(days=2)).timestamp()


@pytest.mark.asyncio
async def test_a_new_day_starts_a_new_count(r: Any) -> None:
    key, clock = new_key(), FakeClock(NOON)
    first, second = limiter(r, key, clock, per_day=2), limiter(r, key, clock, per_day=2)
    await first.acquire()
    await second.acquire()
    with pytest.raises(QuotaExhausted):
        await first.acquire()
    clock.advance(12 * 3600)  # midnight
    await second.acquire()
    await first.acquire()
    assert first.snapshot().used_today == 2
    assert int(await r.hget(key, "sum")) == 2


@pytest.mark.asyncio
async def test_the_pace_is_shared_on_the_store_clock(r: Any) -> None:
    key = new_key()  # the pace is on redis's (real) clock: so is the limiter's here
    limits = [RateLimit(per_second=20, per_day=None, store=RedisQuotaStore(r, key)) for _ in "ab"]
    started = anyio.current_time()
    for i in range(10):
        await limits[i % 2].acquire()
    # ten starts at least 50 ms apart on redis's clock: 450 ms at the least
    assert anyio.current_time() - started >= 0.44


@pytest.mark.asyncio
async def test_a_429_pauses_every_limiter_on_the_key(r: Any) -> None:
    key = new_key()
    heard, other = (RateLimit(per_day=None, store=RedisQuotaStore(r, key)) for _ in "ab")
    heard.pause(0.3)
    await heard.flush()  # what the transport does after a 429
    started = anyio.current_time()
    await other.acquire()
    assert anyio.current_time() - started >= 0.25


@pytest.mark.asyncio
async def test_a_403_holds_every_limiter_on_the_key(r: Any) -> None:
    key, clock = new_key(), FakeClock(NOON)
    heard, other = limiter(r, key, clock), limiter(r, key, clock)
    until = NOON + timedelta(hours=3)
    heard.exhaust(until)
    await heard.flush()
    with pytest.raises(ServerQuotaExhausted) as caught:
        await other.acquire()
    assert caught.value.resets_at == until
    assert other.snapshot().remaining_today == 0
    clock.advance(3 * 3600)
    await other.acquire()


@pytest.mark.asyncio
async def test_an_answer_lost_on_the_way_is_given_back_by_the_next_call(r: Any) -> None:
    key, clock = new_key(), FakeClock(NOON)
    limit = limiter(r, key, clock, per_day=5)
    store = limit.store
    assert isinstance(store, RedisQuotaStore)
    await limit.acquire()
    shared = limit._shared
    assert shared is not None
    # The script ran, its answer never came back (a timeout, a dropped connection).
    lost = await store.decide(shared.ask(clock.now(), take=True))
    assert lost.verdict is Verdict.GRANTED
    assert lost.used == 2
    await limit.acquire()  # sends its own count (1): the store gives the lost call back
    assert int(await r.hget(key, "sum")) == 2
    assert limit.snapshot().used_today == 2
    # Lost again, and no call follows: closing the client (a flush) sets the store right.
    await store.decide(shared.ask(clock.now(), take=True))
    shared._settle = True  # what a decide whose answer never came leaves behind
    await limit.flush()
    assert int(await r.hget(key, "sum")) == 2


@pytest.mark.asyncio
async def test_a_redis_that_lost_its_data_is_rebuilt_by_the_writers(r: Any) -> None:
    key, clock = new_key(), FakeClock(NOON)
    a, b = limiter(r, key, clock, per_day=10), limiter(r, key, clock, per_day=10)
    for _ in range(3):
        await a.acquire()
    for _ in range(4):
        await b.acquire()
    await r.delete(key)  # a restart without persistence, a flush, a failover that lagged
    await a.acquire()  # brings back its 3 calls (the highest count it heard): b's are missing
    assert a.snapshot().used_today == 4
    await b.acquire()  # brings back its own 4 (and the 7 it heard): the sum is exact again
    assert int(await r.hget(key, "sum")) == 9
    assert b.snapshot().used_today == 9


@pytest.mark.asyncio
async def test_calls_fail_fast_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    down = redis.Redis(port=free_port(), password="hunter2-secret")  # nobody listens
    try:
        limit = RateLimit(store=RedisQuotaStore(down, "k", timeout=0.5), clock=FakeClock(NOON))
        await limit.load()  # entering a client does not fail for it
        started = anyio.current_time()
        with (
            caplog.at_level(logging.DEBUG, logger="legrand_async"),
            pytest.raises(QuotaStoreUnavailable) as caught,
        ):
            await limit.acquire()
        assert anyio.current_time() - started < 1.0
        assert caught.value.store == "RedisQuotaStore(key='k')"
        assert "nothing was sent" in str(caught.value)
        assert isinstance(limit.store_error, Exception)
        assert "hunter2" not in str(caught.value) + caplog.text
        assert limit.snapshot().used_today == 0
    finally:
        await down.aclose()


@pytest.mark.asyncio
async def test_a_redis_that_hangs_is_given_up_on_after_the_timeout() -> None:
    async def silent(stream: Any) -> None:
        await anyio.sleep(30)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, silent)
        hung = redis.Redis(port=port)
        limit = RateLimit(store=RedisQuotaStore(hung, "k", timeout=0.3), clock=FakeClock(NOON))
        started = anyio.current_time()
        with pytest.raises(QuotaStoreUnavailable):
            await limit.acquire()
        assert anyio.current_time() - started < 1.0
        await hung.aclose()
        group.cancel_scope.cancel()


@pytest.mark.asyncio
async def test_in_memory_limits_when_asked_and_the_calls_reach_redis_later(
    own_redis_server: RedisServer,
) -> None:
    key, clock = new_key(), FakeClock(NOON)
    r = redis.Redis.from_url(own_redis_server.url)
    try:
        other = limiter(r, key, clock, per_day=10)
        limit = limiter(r, key, clock, per_day=10, when_unavailable="memory", timeout=0.5)
        for _ in range(2):
            await other.acquire()
        await limit.acquire()  # hears 3
        own_redis_server.stop()
        for _ in range(3):
            await limit.acquire()  # decided here: 3 + 3 = 6 of 10 as far as it knows
        assert limit.store_error is not None
        assert limit.snapshot().used_today == 6
        own_redis_server.start()  # empty: it lost everything
        await limit.acquire()  # brings its 5 own calls and the 6 it counted: 7
        assert limit.snapshot().used_today == 7
        await other.acquire()  # its own 2 come back too: the sum is exact
        assert int(await r.hget(key, "sum")) == 8
        assert limit.store_error is None
    finally:
        await r.aclose()


def test_the_store_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        RedisQuotaStore(object(), "k")
    fake = redis.Redis()
    with pytest.raises(TypeError):
        RedisQuotaStore(fake, "")
    with pytest.raises(ValueError, match="when_unavailable"):
        RedisQuotaStore(fake, "k", when_unavailable="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        RedisQuotaStore(fake, "k", timeout=0)
    assert repr(RedisQuotaStore(fake, "k")) == "RedisQuotaStore(key='k')"
    assert isinstance(Ask, type)


@pytest.mark.asyncio
async def test_a_call_cancelled_while_it_waits_for_its_booked_start_is_not_counted(
    r: Any,
) -> None:
    key = new_key()
    limit = RateLimit(per_second=2, per_day=None, store=RedisQuotaStore(r, key))
    await limit.acquire()
    with anyio.move_on_after(0.1):
        await limit.acquire()  # booked half a second ahead: cancelled while it sleeps
    assert limit.snapshot().used_today == 1
    await limit.flush()  # as closing the client does: the store hears the give-back
    assert int(await r.hget(key, "sum")) == 1
    started = anyio.current_time()
    await limit.acquire()  # the booked start is a gap now, not given back: the next one
    assert anyio.current_time() - started >= 0.8


@pytest.mark.asyncio
async def test_a_429_heard_during_a_booked_wait_holds_the_call_until_its_end(r: Any) -> None:
    key = new_key()
    limit = RateLimit(per_second=4, per_day=None, store=RedisQuotaStore(r, key))
    await limit.acquire()
    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        group.start_soon(limit.acquire)  # booked a quarter of a second ahead
        await anyio.sleep(0.05)
        limit.pause(0.6)  # another call of this process got a 429 meanwhile
        await limit.flush()
    assert anyio.current_time() - started >= 0.6  # it gave its start back and waited
    assert int(await r.hget(key, "sum")) == 2


def test_the_package_works_without_redis_installed() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import legrand_async, legrand_async.redis\n"
        "from legrand_async.redis import RedisQuotaStore, RedisTokenStore\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
