"""The RQ backend's client side: jobs go through django-rq's queues, JSON-serialised."""

from __future__ import annotations

import datetime as dt
import json
import math
import zlib
import os
import time
from typing import TYPE_CHECKING, Any

from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from django.conf import settings
from django.core import checks

from ...ledger import dispatch_record
from ...redis import connection
from ...states import TaskStatus
from ..base import Backend, PendingJob, WorkerInfo
from ..redis_lists import drop

if TYPE_CHECKING:
    from rq import Queue

    from ...message import Message

_STATES = {
    JobStatus.QUEUED: TaskStatus.QUEUED,
    JobStatus.DEFERRED: TaskStatus.QUEUED,
    JobStatus.SCHEDULED: TaskStatus.SCHEDULED,
    JobStatus.STARTED: TaskStatus.STARTED,
    JobStatus.FINISHED: TaskStatus.SUCCEEDED,
    JobStatus.FAILED: TaskStatus.FAILED,
    JobStatus.STOPPED: TaskStatus.CANCELLED,
    JobStatus.CANCELED: TaskStatus.CANCELLED,
}


def not_before(eta: dt.datetime) -> dt.datetime:
    """RQ's scheduled-job registry keeps whole seconds, truncated; round up instead, so a job
    never starts before its eta (it may start up to a scheduler tick, about 1 s, after it)."""
    return dt.datetime.fromtimestamp(math.ceil(eta.timestamp()), dt.timezone.utc)


class RQBackend(Backend):
    commands = {
        "scheduler": "taskbridge.backends.rq.cli_scheduler",
        "schedule-sync": "taskbridge.backends.rq.cli_schedule_sync",
    }

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._queues: dict[str, Queue] = {}
        self._custody: Any = None

    def _keeper(self) -> Any:
        if self._custody is None:
            from .custody import RQCustody

            self._custody = RQCustody(self.queue)
        return self._custody

    def held_jobs(self) -> set[str]:
        return self._keeper().held_jobs()

    def hand_back(self, alive: dict[str, Any], grace: float) -> list[str]:
        return self._keeper().hand_back(alive, grace)

    def reap(self, name: str, presence: Any) -> None:
        self._keeper().reap(name, presence)

    def maintain(self) -> None:
        self._keeper().maintain()

    def queue(self, name: str) -> Queue:
        """django-rq's queue, on taskbridge's connection so one pipeline can carry both writes."""
        import django_rq

        conn = connection()
        cached = self._queues.get(name)
        if cached is None or cached.connection is not conn:
            cached = self._queues[name] = django_rq.get_queue(name, connection=conn, serializer=JSONSerializer)
        return cached

    def send(self, message: Message, record: TaskStatus | None) -> None:
        queue = self.queue(message.task.queue)
        with queue.connection.pipeline() as pipe:
            pipe.multi()
            if record is not None:
                for command in dispatch_record(message, self.alias, record):
                    pipe.execute_command(*command)
            self._stage(queue, message, pipe)
            pipe.execute()

    def send_many(self, messages: list[Message]) -> None:
        """All in one transaction: every job is enqueued, or none is."""
        if not messages:
            return
        conn = connection()
        with conn.pipeline() as pipe:
            pipe.multi()
            for message in messages:
                self._stage(self.queue(message.task.queue), message, pipe)
            pipe.execute()

    def _stage(self, queue: Queue, message: Message, pipe: Any) -> None:
        """Add the commands that enqueue ``message`` (or schedule it, with an eta) to ``pipe``."""
        job = queue.create_job(
            message.task.name,
            args=list(message.args),
            kwargs=message.kwargs,
            timeout=message.task.effective_timeout,
            result_ttl=message.task.effective_result_ttl,
            failure_ttl=message.task.effective_result_ttl,
            job_id=message.job_id,
            meta={"taskbridge": message.meta},
        )
        if message.eta is not None:
            queue.schedule_job(job, not_before(message.eta), pipeline=pipe)
        else:
            queue.enqueue_job(job, pipeline=pipe)

    def _fetch(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=connection(), serializer=JSONSerializer)
        except NoSuchJobError:
            return None

    def cancel(self, job_id: str, queue: str, phase: str) -> None:
        job = self._fetch(job_id)
        if job is None:
            return
        if phase == TaskStatus.STARTED and job.get_status() == JobStatus.STARTED:
            try:
                send_stop_job_command(connection(), job_id, serializer=JSONSerializer)
            except InvalidJobOperation:
                pass
            return
        # Not running its function: queued, scheduled, or between attempts. The attempt that
        # asked for a retry may still be handing the job back to RQ; let it finish first, so
        # the retry it schedules is the one removed here (the ledger keeps it from running anyway).
        deadline = time.monotonic() + 2
        while job.get_status() == JobStatus.STARTED and time.monotonic() < deadline:
            time.sleep(0.02)
        ScheduledJobRegistry(queue=self.queue(queue)).remove(job)
        try:
            job.cancel()
        except InvalidJobOperation:
            pass

    def status(self, job_id: str, queue: str) -> TaskStatus | None:
        job = self._fetch(job_id)
        if job is None:
            return None
        return _STATES.get(job.get_status(), TaskStatus.UNKNOWN)

    def workers(self) -> dict[str, list[WorkerInfo]]:
        from rq import Worker

        by_queue: dict[str, list[WorkerInfo]] = {}
        for worker in Worker.all(connection=connection()):
            info = WorkerInfo(name=worker.name, host=worker.hostname or "", pid=worker.pid, queues=tuple(worker.queue_names()))
            for name in info.queues:
                by_queue.setdefault(name, []).append(info)
        return by_queue

    def pending(self, queue: str) -> list[PendingJob]:
        """The queue's list (queued jobs, and retries with no countdown) and its
        ScheduledJobRegistry (jobs with an eta, and retries waiting for their countdown)."""
        rq_queue = self.queue(queue)
        registry = ScheduledJobRegistry(queue=rq_queue)
        conn = rq_queue.connection
        with conn.pipeline(transaction=False) as pipe:
            pipe.lrange(rq_queue.key, 0, -1)
            pipe.zrange(registry.key, 0, -1)
            queued_ids, scheduled_ids = pipe.execute()
        found: list[PendingJob] = []
        for ids, where in ((queued_ids, "queued"), (scheduled_ids, "scheduled")):
            ids = [job_id.decode() for job_id in ids]
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                with conn.pipeline(transaction=False) as pipe:
                    for job_id in chunk:
                        pipe.hmget(Job.key_for(job_id), "data", "meta")
                    rows = pipe.execute()
                for job_id, (data, meta) in zip(chunk, rows):
                    job = _pending(job_id, data, meta, queue, where)
                    if job is not None:
                        found.append(job)
        return found

    def remove(self, queue: str, jobs: list[PendingJob]) -> None:
        """Out of the queue's list or the scheduled registry, and the job itself deleted, so
        a worker that took its id meanwhile finds nothing to run."""
        rq_queue = self.queue(queue)
        queued = [job.job_id for job in jobs if job.ref == "queued"]
        scheduled = [job.job_id for job in jobs if job.ref == "scheduled"]
        drop(rq_queue.connection, rq_queue.key, queued)
        with rq_queue.connection.pipeline(transaction=False) as pipe:
            if scheduled:
                pipe.zrem(ScheduledJobRegistry(queue=rq_queue).key, *scheduled)
            for job in jobs:
                pipe.delete(Job.key_for(job.job_id))
            pipe.execute()

    def backlog(self, queue: str) -> int:
        rq_queue = self.queue(queue)
        with rq_queue.connection.pipeline(transaction=False) as pipe:
            pipe.llen(rq_queue.key)
            pipe.zcard(ScheduledJobRegistry(queue=rq_queue).key)
            return sum(pipe.execute())

    def check(self) -> list[checks.CheckMessage]:
        """Every taskbridge queue is a django-rq queue, JSON-serialised."""
        from ... import conf

        errors: list[checks.CheckMessage] = []
        rq_queues = getattr(settings, "RQ_QUEUES", {})
        for name in conf.queues():
            if name not in rq_queues:
                errors.append(
                    checks.Error(
                        f"queue {name!r} is in TASKBRIDGE['QUEUES'] but not in RQ_QUEUES",
                        hint="Derive RQ_QUEUES with taskbridge.backends.rq.config.rq_queues(TASKBRIDGE['QUEUES'], REDIS_URL).",
                        id="taskbridge.E003",
                    )
                )
                continue
            serializer = rq_queues[name].get("SERIALIZER")
            if serializer != "rq.serializers.JSONSerializer":
                errors.append(
                    checks.Error(f"RQ queue {name!r} must use rq.serializers.JSONSerializer, not {serializer!r}", id="taskbridge.E004")
                )
        return errors


def _pending(job_id: str, data: bytes | None, meta: bytes | None, queue: str, where: str) -> PendingJob | None:
    """A job hash's ``data`` (zlib-compressed JSON ``[func_name, instance, args, kwargs]``, as
    RQ's Job stores it) and ``meta`` read as a :class:`PendingJob`, without building RQ's Job
    (ten times the cost, on a backlog of thousands). ``None`` for a job taskbridge did not send."""
    if not data or not meta:
        return None
    job_meta = json.loads(meta).get("taskbridge")
    if not job_meta:
        return None
    func_name, _instance, args, kwargs = json.loads(zlib.decompress(data))
    job_meta = dict(job_meta)
    attempt = int(job_meta.pop("attempt", 1))
    eta = dt.datetime.fromtimestamp(float(job_meta["due_at"]), dt.timezone.utc) if where == "scheduled" else None
    return PendingJob(
        job_id=job_id, task=func_name, queue=queue, args=tuple(args), kwargs=dict(kwargs),
        meta=job_meta, eta=eta, attempt=attempt, ref=where,
    )
