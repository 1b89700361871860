"""The Redis connection taskbridge keeps its job records in (one client per process), with
connect and read timeouts (``TASKBRIDGE["REDIS_TIMEOUT"]``) so a stalled Redis fails a call
instead of hanging it.

The client is kept across ``fork()``: redis-py's connection pool notices the
new pid and opens fresh connections in the child. An RQ worker hands taskbridge
its own client (:func:`adopt`), so the work horse forked for each job opens one
connection for RQ and taskbridge together instead of one each; opening one
costs a millisecond or more (redis-py looks its own version up in the installed
package metadata for every new connection, which :data:`_DRIVER` does once).
"""

from __future__ import annotations

import redis
from redis.connection import parse_url
from redis.driver_info import DriverInfo

from . import conf

_DRIVER = DriverInfo()
_connection: tuple[str, redis.Redis] | None = None


def connection() -> redis.Redis:
    global _connection
    url = conf.option("REDIS_URL")
    if _connection is None or _connection[0] != url:
        timeout = float(conf.option("REDIS_TIMEOUT"))
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, driver_info=_DRIVER)
        _connection = (url, client)
    return _connection[1]


def _where(kwargs: dict) -> tuple[object, ...]:
    return kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)), int(kwargs.get("db", 0) or 0), kwargs.get("path")


def adopt(client: redis.Redis) -> bool:
    """Use ``client`` as this process's taskbridge connection if it talks to the same Redis
    database as ``REDIS_URL`` (same address and database, bytes replies); ``False`` otherwise.
    Either way, the client's new connections reuse :data:`_DRIVER` instead of each reading
    the package metadata again (what a forked job process would do for every job)."""
    global _connection
    url = conf.option("REDIS_URL")
    kwargs = client.connection_pool.connection_kwargs
    kwargs.setdefault("driver_info", _DRIVER)
    if kwargs.get("decode_responses") or _where(kwargs) != _where(parse_url(url)):
        return False
    _connection = (url, client)
    return True
