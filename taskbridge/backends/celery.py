"""Celery backend: each declared task is a Celery task under its dotted name."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, NoReturn

from celery import current_app, shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded

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
    """Celery drops a message naming an unregistered task; record it as failed instead."""
    queue = ((getattr(message, "delivery_info", None) or {}).get("routing_key")) or "default"
    execution.unknown_task("celery", queue, id, name)
    current_app.backend.mark_as_failure(id, LookupError(f"no task named {name!r}"))
