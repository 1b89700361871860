"""The Redis connection taskbridge keeps its job records in (one per process), with
connect and read timeouts (``TASKBRIDGE["REDIS_TIMEOUT"]``) so a stalled Redis fails a call
instead of hanging it."""

from __future__ import annotations

import os

import redis

from . import conf

_connection: tuple[int, str, redis.Redis] | None = None


def connection() -> redis.Redis:
    global _connection
    url = conf.option("REDIS_URL")
    if _connection is None or _connection[0] != os.getpid() or _connection[1] != url:
        timeout = float(conf.option("REDIS_TIMEOUT"))
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        _connection = (os.getpid(), url, client)
    return _connection[2]
