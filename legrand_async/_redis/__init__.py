"""Shared state on Redis (the ``redis`` extra): see :mod:`legrand_async.redis`."""
