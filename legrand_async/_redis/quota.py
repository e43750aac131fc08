"""``RedisQuotaStore``: a limiter's decisions taken atomically in Redis, one round trip a call.

Everything a key holds is one Redis hash (so a cluster keeps it on one node), which expires by
itself a day after the daily window it counts ends (or after a 403's "spent until"):

=========  ===================================================================================
``day``    the daily window's start (ms since the epoch, the askers' wall clock)
``end``    its end
``sum``    the writers' own calls (``w:<writer>``) added up
``base``   the highest count a writer brought back, plus the calls since (after a data loss)
``tat``    when the next call may start (µs, Redis's clock): the pace
``pause``  the end of a 429's pause (µs, Redis's clock)
``spent``  a 403's "spent until" (ms, the askers' wall clock)
``w:<id>`` one limiter's own calls of the day
=========  ===================================================================================

The count is ``max(sum, base)``. Each script is registered once (``register_script``: EVALSHA,
loaded again by redis-py after a restart) and runs atomically on the server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._checks import positive
from .._transport.day_count import STORE_SKEW
from .._transport.deciding import Ask, Decision, Verdict, WhenUnavailable

__all__ = ["DEFAULT_TIMEOUT", "RedisQuotaStore"]

#: Seconds one round trip to Redis may take before the store counts as unavailable.
DEFAULT_TIMEOUT = 2.0
_SKEW_MS = int(STORE_SKEW.total_seconds() * 1000)

_CLOCK = """
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

DECIDE = (
    _CLOCK
    + """
local k = KEYS[1]
local writer = 'w:' .. ARGV[1]
local own, day = tonumber(ARGV[2]), tonumber(ARGV[3])
local day_end, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local per_day, interval, floor = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local take, skew, horizon = ARGV[9] == '1', tonumber(ARGV[10]), tonumber(ARGV[11])
local h = redis.call('HMGET', k, 'day', 'end', 'sum', 'base', 'tat', 'pause', 'spent')
local kday, kend = tonumber(h[1]), tonumber(h[2])
local sum, base = tonumber(h[3]) or 0, tonumber(h[4]) or 0
local tat, pause, spent = tonumber(h[5]) or 0, tonumber(h[6]) or 0, tonumber(h[7]) or 0
local mine = true
if kday == nil or kday < day or kday - now > skew then
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if string.sub(f, 1, 2) == 'w:' then redis.call('HDEL', k, f) end
  end
  kday, kend, sum, base = day, day_end, 0, 0
elseif kday > day then
  mine = false
end
local prev = tonumber(redis.call('HGET', k, writer)) or 0
if mine then
  if own ~= prev then
    sum = sum + own - prev
    if own < prev then base = math.max(0, base - (prev - own)) end
    prev = own
  end
  if floor > base then base = floor end
end
local used = math.max(sum, base)
local verdict, wait, slot, before = 'peek', 0, 0, tat
if take then
  if spent > now then
    verdict = 'spent'
  elseif per_day >= 0 and used >= per_day then
    verdict = 'full'
  else
    wait = math.max(pause - clock, 0)
    local ahead = 0
    if interval > 0 and tat > clock then ahead = tat - clock end
    if wait > 0 or ahead > horizon then
      verdict, wait = 'wait', math.max(wait, ahead - horizon)
    else
      verdict, wait = 'granted', ahead
      sum, base, prev = sum + 1, base + 1, prev + 1
      used = math.max(sum, base)
      if interval > 0 then tat = math.max(tat, clock) + interval; slot = tat end
    end
  end
end
redis.call('HSET', k, 'day', kday, 'end', kend, 'sum', sum, 'base', base, 'tat', tat, writer, prev)
redis.call('PEXPIREAT', k, math.max(kend, spent) + skew)
return {verdict, used, kday, wait, spent, slot, before}
"""
)

PAUSE = (
    _CLOCK
    + """
local k, till = KEYS[1], clock + tonumber(ARGV[1])
if till > (tonumber(redis.call('HGET', k, 'pause')) or 0) then
  redis.call('HSET', k, 'pause', till)
end
if redis.call('PTTL', k) < 0 then
  redis.call('PEXPIRE', k, math.floor(tonumber(ARGV[1]) / 1000) + tonumber(ARGV[2]))
end
return 1
"""
)

EXHAUST = """
local k, till = KEYS[1], tonumber(ARGV[1])
local h = redis.call('HMGET', k, 'end', 'spent')
local spent = math.max(tonumber(h[2]) or 0, till)
redis.call('HSET', k, 'spent', spent)
redis.call('PEXPIREAT', k, math.max(tonumber(h[1]) or 0, spent) + tonumber(ARGV[2]))
return 1
"""

GIVE_BACK = """
local k = KEYS[1]
if tonumber(redis.call('HGET', k, 'tat')) == tonumber(ARGV[1]) then
  redis.call('HSET', k, 'tat', ARGV[2])
  return 1
end
return 0
"""


def _ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def _instant(ms: int) -> datetime:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisQuotaStore:
    """A :class:`RateLimit`'s budget in one Redis hash, shared exactly by every limiter (in any
    process, on any host) whose store names the same ``key``.

    ``redis`` is a ``redis.asyncio.Redis`` (install ``legrand-async[redis]``); every decision
    (the pace, the daily count, the 429 pause, the 403 "spent until") is one Lua script run
    atomically in Redis, one round trip a call. ``timeout`` bounds each round trip (seconds):
    past it, or when Redis refuses the connection, calls raise ``QuotaStoreUnavailable``
    without being sent; with ``when_unavailable="memory"`` the limiter decides on its own
    meanwhile (its calls reach Redis with the next answer). The key expires by itself a day
    after the daily window it counts has ended.
    """

    def __init__(
        self,
        redis: Any,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        when_unavailable: WhenUnavailable = "raise",
    ) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError("key must be a non-empty str")
        if when_unavailable not in ("raise", "memory"):
            raise ValueError('when_unavailable must be "raise" or "memory"')
        if not callable(getattr(redis, "register_script", None)):
            raise TypeError("redis must be a redis.asyncio.Redis (it has register_script)")
        self.key = key
        self.timeout = float(positive("timeout", timeout, unit=" seconds"))
        self.when_unavailable: WhenUnavailable = when_unavailable
        self._decide = redis.register_script(DECIDE)
        self._pause = redis.register_script(PAUSE)
        self._exhaust = redis.register_script(EXHAUST)
        self._give_back = redis.register_script(GIVE_BACK)

    async def decide(self, ask: Ask) -> Decision:
        args = [
            ask.writer,
            ask.own,
            _ms(ask.day),
            _ms(ask.day_end),
            _ms(ask.now),
            -1 if ask.per_day is None else ask.per_day,
            round(ask.interval * 1e6),
            ask.floor,
            1 if ask.take else 0,
            _SKEW_MS,
            round(ask.horizon * 1e6),
        ]
        reply = await self._decide(keys=[self.key], args=args)
        verdict, used, day, wait, spent, slot, before = reply
        return Decision(
            verdict=Verdict(_text(verdict)),
            used=int(used),
            day=_instant(int(day)),
            wait=int(wait) / 1e6,
            spent_until=_instant(int(spent)) if int(spent) > 0 else None,
            pace=(int(slot), int(before)) if int(slot) else None,
        )

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[self.key], args=[max(1, round(seconds * 1e6)), _SKEW_MS])

    async def exhaust(self, until: datetime) -> None:
        await self._exhaust(keys=[self.key], args=[_ms(until), _SKEW_MS])

    async def give_back(self, pace: tuple[int, int]) -> None:
        await self._give_back(keys=[self.key], args=list(pace))

    def __repr__(self) -> str:
        return f"RedisQuotaStore(key={self.key!r})"
