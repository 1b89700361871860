"""What ``manage.py rqworker`` runs: taskbridge's Job and Worker classes for RQ.

settings.RQ names them (``JOB_CLASS``, ``WORKER_CLASS``), so the documented
command needs no extra flags. The worker always uses RQ's JSON serializer,
whatever ``--serializer`` says, so a worker can never fall back to pickle.
"""

from __future__ import annotations

import math
import time
from typing import Any, NoReturn

from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException
from rq.worker import Worker

from .. import execution
from ..declaration import Task


class RetryScheduled(Exception):
    """Ends a run that asked for a retry; RQ then re-schedules the job (retries_left is set)."""


class _RunningRQJob:
    backend = "rq"
    timeout_errors = (JobTimeoutException,)

    def __init__(self, job: Job) -> None:
        self.job = job
        meta = job.meta.get("taskbridge", {})
        self.job_id = job.id
        self.queue = job.origin
        self.attempt = int(meta.get("attempt", 1))
        self.correlation_id = meta.get("correlation_id") or job.id
        self.due_at = float(meta.get("due_at", time.time()))

    def schedule_retry(self, countdown: float) -> NoReturn:
        meta = self.job.meta.setdefault("taskbridge", {})
        meta["attempt"] = self.attempt + 1
        meta["due_at"] = time.time() + countdown
        self.job.retries_left = 1
        self.job.retry_intervals = [math.ceil(countdown)]
        self.job.save_meta()
        raise RetryScheduled(f"retry in {countdown}s (attempt {self.attempt + 1})")


class TaskbridgeJob(Job):
    def _execute(self) -> Any:
        try:
            func = self.func
        except (ImportError, AttributeError, ValueError):
            execution.unknown_task("rq", self.origin, self.id, self.func_name)
            raise
        if not isinstance(func, Task):
            return super()._execute()
        return execution.run(func, tuple(self.args), dict(self.kwargs), _RunningRQJob(self))


class TaskbridgeWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("job_class", TaskbridgeJob)
        super().__init__(*args, **kwargs)
