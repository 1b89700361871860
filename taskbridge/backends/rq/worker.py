"""What ``manage.py rqworker`` runs: taskbridge's Job and Worker classes for RQ.

settings.RQ names them (``JOB_CLASS``, ``WORKER_CLASS``), so the documented
command needs no extra flags. The worker always uses RQ's JSON serializer,
whatever ``--serializer`` says, so a worker can never fall back to RQ's default, non-JSON serializer.
"""

from __future__ import annotations

import math
import os
import time
from functools import lru_cache
from typing import Any, NoReturn

from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException
from django.utils.module_loading import autodiscover_modules
from rq.worker import DequeueStrategy, Worker

from ... import custody, events, execution, registry
from ... import redis as taskbridge_redis
from .. import alias_of


#: Functions of taskbridge's own that RQ jobs may name besides declared tasks.
INTERNAL = frozenset({"taskbridge.backends.rq.periodic.run_tick"})  # periodic.RQ_TICK_FUNC


class RetryScheduled(Exception):
    """Ends a run that asked for a retry; RQ then re-schedules the job (retries_left is set)."""


@lru_cache(maxsize=1)
def alias() -> str:
    return alias_of("taskbridge.backends.rq.backend.RQBackend")


class _RunningRQJob:
    timeout_errors = (JobTimeoutException,)
    kill_past_hard_limit = True

    def __init__(self, job: Job) -> None:
        self.backend = alias()
        self.job = job
        meta = job.meta.get("taskbridge", {})
        self.job_id = job.id
        self.queue = job.origin
        self.attempt = int(meta.get("attempt", 1))
        self.correlation_id = meta.get("correlation_id") or job.id
        self.due_at = float(meta.get("due_at", time.time()))

    def schedule_retry(self, countdown: float) -> NoReturn:
        now = time.time()
        due = now + countdown
        meta = self.job.meta.setdefault("taskbridge", {})
        meta["attempt"] = self.attempt + 1
        meta["due_at"] = due
        self.job.retries_left = 1
        # RQ schedules at now + interval, truncated to the second: aim at the whole second
        # at or after ``due`` so the retry never comes early (see backend.not_before).
        self.job.retry_intervals = [math.ceil(due) - now + 0.001 if countdown > 0 else 0]
        self.job.save_meta()
        raise RetryScheduled(f"retry in {countdown}s (attempt {self.attempt + 1})")


class TaskbridgeJob(Job):
    """Runs only what was declared: a ``@task`` through the execution path, or one of the
    backend's own entry points (:data:`INTERNAL`). Anything else named in a job (say
    ``os.mkdir``, written straight into Redis) is never imported or called: the job
    fails as ``unknown_task``, visibly, and the worker runs on."""

    def _execute(self) -> Any:
        declared = registry.get(self.func_name)
        if declared is not None:
            return execution.run(declared, tuple(self.args), dict(self.kwargs), _RunningRQJob(self))
        if self.func_name in INTERNAL:
            return super()._execute()
        meta = self.meta.get("taskbridge", {})
        custody.unknown_task(alias(), self.origin, self.id, self.func_name, meta.get("correlation_id"), int(meta.get("attempt", 1)))
        raise LookupError(f"no task named {self.func_name!r} is declared in this project")


class TaskbridgeWorker(Worker):
    """Always JSON; imports every app's ``tasks`` module once, before forking, so work
    horses don't re-import them per job; serves its queues round-robin, as Celery's
    worker does, so one busy queue cannot starve the others. Its Redis client is
    taskbridge's too (when it is the same database), so each work horse opens one
    connection, not two."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("job_class", TaskbridgeJob)
        super().__init__(*args, **kwargs)
        taskbridge_redis.adopt(self.connection)
        events.get_logger()  # built once here, not in every work horse
        autodiscover_modules("tasks")

    def work(self, *args: Any, **kwargs: Any) -> bool:
        kwargs.setdefault("dequeue_strategy", DequeueStrategy.ROUND_ROBIN)
        return super().work(*args, **kwargs)

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        """The work horse died without finishing the job (killed, or stopped by RQ past its
        timeout). RQ calls this only for an unexpected death, not for a stop-job command."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if ret_val is not None and os.WIFSIGNALED(ret_val):
            how = custody.describe_exit(signal_number=os.WTERMSIG(ret_val))
        else:
            how = custody.describe_exit(exit_code=os.waitstatus_to_exitcode(ret_val) if ret_val is not None else None)
        custody.job_lost(job.id, how)
