"""The Celery backend's worker side: every declared task becomes a Celery task that runs
through :func:`taskbridge.execution.run`, and a pool process that died is recorded.

Loaded by :func:`.config.configure` (the project's Celery app), so it runs in
Celery workers and beat, never on the dispatch path.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn

from billiard.exceptions import WorkerLostError
from celery import shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from ... import conf, custody, execution, presence, registry
from .. import alias_of
from .backend import HEADER

if TYPE_CHECKING:
    from ...declaration import Task


@lru_cache(maxsize=1)
def alias() -> str:
    return alias_of("taskbridge.backends.celery.backend.CeleryBackend")


def _meta(request: Any) -> dict[str, Any]:
    return getattr(request, HEADER, None) or (request.headers or {}).get(HEADER) or {}


class _RunningCeleryJob:
    timeout_errors = (SoftTimeLimitExceeded,)
    kill_past_hard_limit = True

    def __init__(self, celery_task: Any) -> None:
        self.backend = alias()
        request = celery_task.request
        meta = _meta(request)
        self.celery_task = celery_task
        self.job_id = request.id
        self.queue = (request.delivery_info or {}).get("routing_key") or meta.get("queue", "default")
        self.attempt = request.retries + 1
        self.correlation_id = meta.get("correlation_id") or request.id
        self.generation = int(meta.get("gen", 0))
        eta = request.eta
        self.due_at = dt.datetime.fromisoformat(eta).timestamp() if eta else float(meta.get("due_at", 0))

    def schedule_retry(self, countdown: float) -> NoReturn:
        eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=countdown)
        raise self.celery_task.retry(eta=eta, max_retries=None)


def _time_limits(task: Task) -> dict[str, int]:
    """Declared on the Celery task, so a message need not carry them."""
    return {"soft_time_limit": task.effective_timeout, "time_limit": task.effective_timeout + conf.option("HARD_TIMEOUT_GRACE")}


#: A successful run's result and its start are kept in the ledger (``execution.run``), which is
#: what ``TaskHandle.status()`` and ``result()`` read first; Celery's result backend adds only
#: what the ledger may lack: failures and revocations stored by the worker's main process.
#: Storing the result a second time (and a STARTED state, ``task_track_started``) cost a GET,
#: a SET and a PUBLISH each per job (docs/performance.md, "drain").
_RESULTS = {"ignore_result": True, "store_errors_even_if_ignored": True, "track_started": False}


def register(task: Task) -> None:
    """Register ``task`` with Celery under its dotted name (with its time limits)."""

    def run(celery_task: Any, *args: Any, **kwargs: Any) -> Any:
        return execution.run(task, args, kwargs, _RunningCeleryJob(celery_task))

    run.__name__ = task.func.__name__
    run.__qualname__ = task.func.__qualname__
    run.__module__ = task.func.__module__
    run.__doc__ = task.func.__doc__
    shared_task(name=task.name, bind=True, max_retries=None, typing=False, **_RESULTS, **_time_limits(task))(run)


registry.subscribe(register)


@signals.task_unknown.connect
def _record_unknown_task(sender: Any = None, name: str = "", id: str = "", message: Any = None, **_: Any) -> None:
    """Celery rejects a message naming an unregistered task (and stores FAILURE); record it
    the taskbridge way too, so it is visible in the ledger and the event log."""
    meta = ((getattr(message, "headers", None) or {}).get(HEADER)) or {}
    queue = meta.get("queue") or ((getattr(message, "delivery_info", None) or {}).get("routing_key")) or "default"
    custody.unknown_task(alias(), queue, id, name, meta.get("correlation_id"))


_EXIT = re.compile(r"signal (\d+)|exitcode (-?\d+)")


@signals.task_failure.connect
def _record_lost_process(sender: Any = None, task_id: str = "", exception: BaseException | None = None, **_: Any) -> None:
    """In the worker's main process: the pool process running the job died (killed, or over
    its hard time limit). Nothing ran the task's own failure path, so record it here."""
    if isinstance(exception, TimeLimitExceeded):
        custody.job_lost(task_id, "killed at its hard time limit")
    elif isinstance(exception, WorkerLostError):
        found = _EXIT.search(str(exception))
        signal_number = int(found.group(1)) if found and found.group(1) else None
        exit_code = int(found.group(2)) if found and found.group(2) else None
        custody.job_lost(task_id, custody.describe_exit(signal_number, exit_code))


_heartbeat: presence.Heartbeat | None = None


def _held() -> frozenset[str]:
    """Jobs this worker holds: reserved, waiting for their eta, running (their messages are
    in kombu's ``unacked`` hash until acknowledged)."""
    from celery.worker import state

    requests = [*state.reserved_requests, *state.active_requests, *getattr(state, "scheduled_requests", ())]
    return frozenset(request.id for request in list(requests) if getattr(request, "id", None))


@signals.worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """In the worker's main process (the one holding its messages): say it is alive, and what it holds."""
    global _heartbeat
    name = sender.hostname
    queues = tuple(queue.name for queue in sender.app.amqp.queues.consume_from.values())
    since = time.time()
    _heartbeat = presence.Heartbeat(alias(), lambda: presence.describe_self(name, queues, _held(), since=since)).start()


@signals.worker_shutdown.connect
def _stop_heartbeat(sender: Any = None, **_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop(getattr(sender, "hostname", ""))
