"""Celery backend: each declared task is a Celery task under its dotted name."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, NoReturn

from celery import current_app, shared_task, signals
from billiard.exceptions import WorkerLostError
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from .. import conf, execution
from ..ledger import ledger
from ..states import TaskStatus
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
    return {"soft_time_limit": task.effective_timeout, "time_limit": task.effective_timeout + conf.option("HARD_TIMEOUT_GRACE")}


class CeleryBackend(Backend):
    name = "celery"

    def register(self, task: Task) -> None:
        def run(celery_task: Any, *args: Any, **kwargs: Any) -> Any:
            return execution.run(task, args, kwargs, _RunningCeleryJob(celery_task))

        run.__name__ = task.func.__name__
        run.__qualname__ = task.func.__qualname__
        run.__module__ = task.func.__module__
        run.__doc__ = task.func.__doc__
        shared_task(name=task.name, bind=True, max_retries=None, typing=False, queue=task.queue)(run)

    def send(self, message: Message, record: TaskStatus | None) -> None:
        meta = {**message.meta, "queue": message.task.queue}
        with ledger().recording_dispatch(message, self.name, record) if record is not None else nullcontext():
            current_app.send_task(
                message.task.name,
                args=list(message.args),
                kwargs=message.kwargs,
                task_id=message.job_id,
                queue=message.task.queue,
                eta=message.eta,
                headers={HEADER: meta},
                **_time_limits(message.task),
            )

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
