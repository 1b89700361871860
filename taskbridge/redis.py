"""The Redis connection taskbridge keeps its job records in (one per process)."""

from __future__ import annotations

import os

import redis

from . import conf

_connection: tuple[int, str, redis.Redis] | None = None


def connection() -> redis.Redis:
    global _connection
    url = conf.option("REDIS_URL")
    if _connection is None or _connection[0] != os.getpid() or _connection[1] != url:
        _connection = (os.getpid(), url, redis.Redis.from_url(url))
    return _connection[2]
