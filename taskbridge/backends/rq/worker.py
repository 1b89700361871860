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
from rq.exceptions import DequeueTimeout, NoSuchJobError
from rq.queue import Queue
from rq.worker import DequeueStrategy, Worker
from rq import worker_registration
import redis

from ... import custody, events, execution, presence, registry, stream
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
        self.generation = int(meta.get("gen", 0))
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


# KEYS: the queues, in the order to serve them; ARGV[1]: the intermediate lists' suffix.
# Moves the first job found into its queue's intermediate list, in one step: returns {queue, id}.
_TAKE = """
for _, queue in ipairs(KEYS) do
  local job = redis.call('LMOVE', queue, queue .. ARGV[1], 'LEFT', 'RIGHT')
  if job then return {queue, job} end
end
return nil
"""


class TaskbridgeQueue(Queue):
    """Dequeues the way RQ does for a single queue, for any number of queues: the job moves
    atomically into the queue's intermediate list (RQ pops it with BLPOP when a worker serves
    several queues, and a worker killed before its work horse starts the job loses it). The
    reconciler hands back what a dead worker left there (:mod:`.custody`)."""

    #: How long an idle worker blocks on its first queue before looking at all of them again.
    IDLE_WAIT = 0.2

    @classmethod
    def dequeue_any(cls, queues: Any, timeout: int | None, connection: Any = None, job_class: Any = None,
                    serializer: Any = None, death_penalty_class: Any = None) -> tuple[Job, Queue] | None:
        queues = list(queues)
        keys = [queue.key for queue in queues]
        take = connection.register_script(_TAKE)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = take(keys=keys, args=[":intermediate"])
            if found is None and deadline is not None:
                wait = min(cls.IDLE_WAIT, max(deadline - time.monotonic(), 0))
                if wait <= 0:
                    raise DequeueTimeout(timeout, keys)
                job_id = connection.blmove(keys[0], keys[0] + ":intermediate", wait)
                found = (keys[0].encode(), job_id) if job_id is not None else None
            if found is None:
                if deadline is None:
                    return None
                continue
            queue_key, job_id = (part.decode() if isinstance(part, bytes) else part for part in found)
            queue = cls.from_queue_key(queue_key, connection=connection, job_class=job_class, serializer=serializer,
                                       death_penalty_class=death_penalty_class)
            try:
                job = (job_class or Job).fetch(job_id, connection=connection, serializer=serializer)
            except NoSuchJobError:
                connection.lrem(queue.intermediate_queue_key, 1, job_id)
                continue
            return job, queue


class TaskbridgeWorker(Worker):
    """Always JSON; imports every app's ``tasks`` module once, before forking, so work
    horses don't re-import them per job; serves its queues round-robin, as Celery's
    worker does, so one busy queue cannot starve the others; never loses a job between
    dequeue and start (:class:`TaskbridgeQueue`); says it is alive, and which job it holds,
    every few seconds (:mod:`taskbridge.presence`); rides out a Redis restart. Its Redis
    client is taskbridge's too (when it is the same database), so each work horse opens one
    connection, not two."""

    #: RQ retries a lost Redis connection with a doubling wait, up to a minute by default: a worker
    #: would then idle up to a minute after Redis came back. Capped so it is working again within seconds.
    max_connection_wait_time = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("job_class", TaskbridgeJob)
        super().__init__(*args, **kwargs)
        self.queue_class = TaskbridgeQueue  # after RQ checked django-rq's queues against its own class
        self._holding: str | None = None
        taskbridge_redis.adopt(self.connection)
        events.get_logger()  # built once here, not in every work horse
        autodiscover_modules("tasks")

    def _scheduler_died(self) -> bool:
        process = self.scheduler._process if self.scheduler is not None else None
        return process is not None and not process.is_alive()

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """Also as soon as this worker's scheduler process died (a Redis restart kills it):
        RQ would restart it only at its ten-minute pass, and countdowns and retries wait for it."""
        return self._scheduler_died() or super().should_run_maintenance_tasks

    def run_maintenance_tasks(self) -> None:
        if self._scheduler_died():
            try:
                self.scheduler.release_locks()  # its dead process's, so the restart can take them
            except redis.RedisError:
                pass
        super().run_maintenance_tasks()

    def _presence(self) -> presence.Presence:
        scheduler = self.scheduler.name if self.scheduler is not None else None
        held = frozenset({self._holding}) if self._holding else frozenset()
        return presence.describe_self(self.name, tuple(self.queue_names()), held, scheduler)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        kwargs.setdefault("dequeue_strategy", DequeueStrategy.ROUND_ROBIN)
        beat = presence.Heartbeat(alias(), self._presence).start()
        try:
            while True:
                try:
                    return super().work(*args, **kwargs)
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    self.log.warning("Worker %s: Redis went away (%s); waiting for it", self.name, exc)
                    self._wait_for_redis()
        finally:
            beat.stop(self.name)

    def _wait_for_redis(self) -> None:
        """Back once Redis answers; the worker registers again under its own name."""
        while True:
            time.sleep(1)
            try:
                self.connection.ping()
                break
            except redis.RedisError:
                continue
        try:
            worker_registration.unregister(self)
            self.connection.delete(self.key)
        except redis.RedisError:
            pass
        self._stop_requested = False

    def execute_job(self, job: Job, queue: Queue) -> Any:
        self._holding = job.id
        try:
            return super().execute_job(job, queue)
        finally:
            self._holding = None

    def perform_job(self, job: Job, queue: Queue) -> bool:
        """In the work horse, which exits without running its threads on: its job's live
        events are sent before it does."""
        try:
            return super().perform_job(job, queue)
        finally:
            stream.flush()

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Every job comes through an intermediate list here (:class:`TaskbridgeQueue`), whatever
        the number of queues: take it out in the step that puts it in the started registry."""
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        """The work horse died without finishing the job (killed, or stopped by RQ past its
        timeout). RQ calls this only for an unexpected death, not for a stop-job command."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if ret_val is not None and os.WIFSIGNALED(ret_val):
            how = custody.describe_exit(signal_number=os.WTERMSIG(ret_val))
        else:
            how = custody.describe_exit(exit_code=os.waitstatus_to_exitcode(ret_val) if ret_val is not None else None)
        custody.job_lost(job.id, how)
