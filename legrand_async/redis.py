"""Shared state on Redis: one quota and one login for many processes and hosts.

Install ``legrand-async[redis]`` (redis-py's asyncio client); this module never imports redis
itself, it uses the ``redis.asyncio.Redis`` you hand it::

    import redis.asyncio as redis
    from legrand_async import LegrandClient, OAuth2Auth, RateLimit
    from legrand_async.redis import RedisQuotaStore, RedisTokenStore

    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    user_limit = RateLimit(per_day=500, store=RedisQuotaStore(r, key="legrand:quota:user-42"))
    app_store = RedisQuotaStore(r, key="legrand:quota:app")
    app_limit = RateLimit(per_second=10, per_day=None, store=app_store)
    auth = OAuth2Auth(app, RedisTokenStore(r, key="legrand:token:user-42"))
    client = LegrandClient(key, auth=auth, rate_limit=(app_limit, user_limit))
"""

from __future__ import annotations

from ._redis.quota import RedisQuotaStore
from ._redis.token import RedisTokenStore

__all__ = ["RedisQuotaStore", "RedisTokenStore"]
