"""What a running task can know and do about its own job, on either backend, without ``self``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import NoReturn

from .errors import NotInTask
from .events import Subject
from .handle import TaskHandle
from .ledger import ledger
from .retry import RetryRequested


@dataclass(frozen=True, slots=True)
class TaskContext:
    task_name: str
    job_id: str
    backend: str
    queue: str
    attempt: int
    correlation_id: str

    @property
    def subject(self) -> Subject:
        return Subject(self.backend, self.queue, self.task_name, self.job_id, self.attempt, self.correlation_id)

    @property
    def handle(self) -> TaskHandle:
        return TaskHandle(self.backend, self.queue, self.job_id)


_current: ContextVar[TaskContext | None] = ContextVar("taskbridge_task_context", default=None)


def current() -> TaskContext | None:
    """The running job's context, or ``None`` when called outside a worker (e.g. inline)."""
    return _current.get()


def _require() -> TaskContext:
    ctx = _current.get()
    if ctx is None:
        raise NotInTask("this can only be called from a task running on a worker")
    return ctx


def retry(countdown: float = 0, max_retries: int | None = None, exc: BaseException | None = None) -> NoReturn:
    """Run this job again after ``countdown`` seconds, on the backend it is on.

    ``max_retries`` (default: the task's retry policy, else 3) bounds the number
    of retries; past it the task's give-up hook runs and the job fails with
    ``max_retries_exceeded``.
    """
    _require()
    raise RetryRequested(countdown=countdown, max_retries=max_retries, reason=exc)


def is_cancelled() -> bool:
    """Whether this job was cancelled; long jobs check it between steps and stop."""
    return ledger().is_cancelled(_require().job_id)
