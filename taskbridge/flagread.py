"""Reading the taskbridge flags from the database within a time limit.

Routing reads the flags on the dispatch path. A stalled database (a lock, a
paused server) would hold every dispatch for as long as it stalls; here the
query runs in one long-lived reader thread (with a database connection of its
own, open only while it reads) and the caller waits at most ``TASKBRIDGE["FLAG_READ_TIMEOUT"]`` seconds.
While a read is stuck, later reads fail at once instead of queueing behind it.
``None`` reads in the caller's thread, without a limit (the test settings,
whose flags live in a test's own uncommitted transaction).
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable

from . import conf


class FlagReadError(Exception):
    """The flags could not be read in time (or at all)."""


_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_pending: concurrent.futures.Future | None = None


def _reader() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="taskbridge-flags")
    return _executor


def _in_reader(query: Callable[[], Any]) -> Any:
    """Run ``query`` on the reader thread, then close that thread's connection: the flags are
    read only when they change (:mod:`taskbridge.routing`), hours apart, so an idle connection
    held per process between reads would cost the database more than connecting each time."""
    from django.db import connections

    try:
        return query()
    finally:
        connections.close_all()


def read(query: Callable[[], Any]) -> Any:
    """``query()``'s result, or FlagReadError when it fails or takes too long."""
    global _pending
    limit = conf.option("FLAG_READ_TIMEOUT")
    if limit is None:
        try:
            return query()
        except Exception as exc:
            raise FlagReadError(str(exc)) from exc
    with _lock:
        if _pending is not None and not _pending.done():
            raise FlagReadError("an earlier read of the flags is still waiting for the database")
        _pending = future = _reader().submit(_in_reader, query)
    try:
        return future.result(timeout=float(limit))
    except concurrent.futures.TimeoutError:
        raise FlagReadError(f"the database did not answer within {limit}s") from None
    except Exception as exc:
        raise FlagReadError(str(exc)) from exc
