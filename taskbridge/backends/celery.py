"""Celery backend: each declared task is a Celery task under its dotted name."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import TYPE_CHECKING, Any, NoReturn

from celery import current_app, shared_task, signals
from billiard.exceptions import WorkerLostError
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from kombu import pools
from kombu.pools import ProducerPool
from redis.connection import parse_url

from .. import conf, execution
from ..ledger import dispatch_record, ledger
from ..states import TaskStatus
from . import celery_transport
from .base import Backend

if TYPE_CHECKING:
    from ..message import Message
    from ..declaration import Task

HEADER = "taskbridge"

_STATES = {
    "PENDING": None,
    "RECEIVED": TaskStatus.QUEUED,
    "STARTED": TaskStatus.STARTED,
    "RETRY": TaskStatus.RETRYING,
    "SUCCESS": TaskStatus.SUCCEEDED,
    "FAILURE": TaskStatus.FAILED,
    "REVOKED": TaskStatus.CANCELLED,
}


def _meta(request: Any) -> dict[str, Any]:
    return getattr(request, HEADER, None) or (request.headers or {}).get(HEADER) or {}


class _RunningCeleryJob:
    backend = "celery"
    timeout_errors = (SoftTimeLimitExceeded,)

    def __init__(self, celery_task: Any) -> None:
        request = celery_task.request
        meta = _meta(request)
        self.celery_task = celery_task
        self.job_id = request.id
        self.queue = (request.delivery_info or {}).get("routing_key") or meta.get("queue", "default")
        self.attempt = request.retries + 1
        self.correlation_id = meta.get("correlation_id") or request.id
        eta = request.eta
        self.due_at = dt.datetime.fromisoformat(eta).timestamp() if eta else float(meta.get("due_at", 0))

    def schedule_retry(self, countdown: float) -> NoReturn:
        eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=countdown)
        raise self.celery_task.retry(eta=eta, max_retries=None)


def _time_limits(task: Task) -> dict[str, int]:
    """Declared on the Celery task, so a message need not carry them."""
    return {"soft_time_limit": task.effective_timeout, "time_limit": task.effective_timeout + conf.option("HARD_TIMEOUT_GRACE")}


def _same_redis(url: str, other: str) -> bool:
    def where(value: str) -> tuple[object, ...]:
        parts = parse_url(value)
        return parts.get("host", "localhost"), parts.get("port", 6379), int(parts.get("db", 0)), parts.get("path")

    return where(url) == where(other)


class _RecordingProducers:
    """Producers publishing through :mod:`.celery_transport`, so that a job's record rides
    with its message."""

    def __init__(self, pool: ProducerPool, timeout: float | None) -> None:
        self.pool, self.timeout = pool, timeout

    @classmethod
    def for_broker(cls) -> _RecordingProducers | None:
        """``None`` when the broker is not the Redis database the job records are kept in."""
        app = current_app
        url = app.conf.broker_write_url or ""
        if not url.startswith("redis://") or not _same_redis(url, conf.option("REDIS_URL")):
            return None
        if app.conf.broker_transport_options.get("global_keyprefix"):
            return None
        pool = pools.producers[app.connection_for_write(transport=celery_transport.Transport)]
        pool.limit = app.conf.broker_pool_limit
        return cls(pool, app.conf.broker_pool_acquire_timeout)

    def acquire(self) -> Any:
        return self.pool.acquire(block=True, timeout=self.timeout)


class CeleryBackend(Backend):
    name = "celery"

    def __init__(self) -> None:
        self._producers: tuple[int, _RecordingProducers | None] | None = None

    def register(self, task: Task) -> None:
        def run(celery_task: Any, *args: Any, **kwargs: Any) -> Any:
            return execution.run(task, args, kwargs, _RunningCeleryJob(celery_task))

        run.__name__ = task.func.__name__
        run.__qualname__ = task.func.__qualname__
        run.__module__ = task.func.__module__
        run.__doc__ = task.func.__doc__
        shared_task(name=task.name, bind=True, max_retries=None, typing=False, **_time_limits(task))(run)

    def _recording_producers(self) -> _RecordingProducers | None:
        if self._producers is None or self._producers[0] != os.getpid():
            self._producers = (os.getpid(), _RecordingProducers.for_broker())
        return self._producers[1]

    def send(self, message: Message, record: TaskStatus | None) -> None:
        task = message.task
        options = {
            "args": list(message.args), "kwargs": message.kwargs, "task_id": message.job_id, "queue": task.queue,
            "eta": message.eta, "headers": {HEADER: {**message.meta, "queue": task.queue}},
        }
        if record is not None:
            commands = dispatch_record(message, self.name, record)
            producers = self._recording_producers()
            if producers is not None:
                with producers.acquire() as producer, celery_transport.publishing_with(message.job_id, commands):
                    current_app.send_task(task.name, producer=producer, **options)
                return
            ledger().write(commands)  # the broker is another Redis: the record first, then the message
        current_app.send_task(task.name, **options)

    def cancel(self, job_id: str, queue: str, phase: str) -> None:
        current_app.control.revoke(job_id, terminate=(phase == TaskStatus.STARTED), signal="SIGTERM")

    def status(self, job_id: str, queue: str) -> TaskStatus | None:
        return _STATES.get(current_app.AsyncResult(job_id).state, TaskStatus.UNKNOWN)


@signals.task_unknown.connect
def _record_unknown_task(sender: Any = None, name: str = "", id: str = "", message: Any = None, **_: Any) -> None:
    """Celery rejects a message naming an unregistered task (and stores FAILURE); record it
    the taskbridge way too, so it is visible in the ledger and the event log."""
    meta = ((getattr(message, "headers", None) or {}).get(HEADER)) or {}
    queue = meta.get("queue") or ((getattr(message, "delivery_info", None) or {}).get("routing_key")) or "default"
    execution.unknown_task("celery", queue, id, name, meta.get("correlation_id"))


_EXIT = re.compile(r"signal (\d+)|exitcode (-?\d+)")


@signals.task_failure.connect
def _record_lost_process(sender: Any = None, task_id: str = "", exception: BaseException | None = None, **_: Any) -> None:
    """In the worker's main process: the pool process running the job died (killed, or over
    its hard time limit). Nothing ran the task's own failure path, so record it here."""
    if isinstance(exception, TimeLimitExceeded):
        execution.job_lost(task_id, "killed at its hard time limit")
    elif isinstance(exception, WorkerLostError):
        found = _EXIT.search(str(exception))
        signal_number = int(found.group(1)) if found and found.group(1) else None
        exit_code = int(found.group(2)) if found and found.group(2) else None
        execution.job_lost(task_id, execution.describe_exit(signal_number, exit_code))
