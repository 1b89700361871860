"""The RQ backend's client side: jobs go through django-rq's queues, JSON-serialised."""

from __future__ import annotations

import datetime as dt
import math
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
from ..base import Backend, WorkerInfo

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
        with queue.connection.pipeline() as pipe:
            pipe.multi()
            if record is not None:
                for command in dispatch_record(message, self.alias, record):
                    pipe.execute_command(*command)
            if message.eta is not None:
                queue.schedule_job(job, not_before(message.eta), pipeline=pipe)
            else:
                queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()

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
