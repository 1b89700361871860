"""RQ backend: jobs go through django-rq's queues, JSON-serialised."""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from typing import TYPE_CHECKING

from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from ..ledger import dispatch_record
from ..redis import connection
from ..states import TaskStatus
from .base import Backend

if TYPE_CHECKING:
    from rq import Queue

    from ..message import Message

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
    name = "rq"

    def __init__(self) -> None:
        self._queues: dict[tuple[int, str], Queue] = {}

    def queue(self, name: str) -> Queue:
        """django-rq's queue, on taskbridge's connection so one pipeline can carry both writes."""
        import django_rq

        cache_key = (os.getpid(), name)
        if cache_key not in self._queues:
            self._queues[cache_key] = django_rq.get_queue(name, connection=connection(), serializer=JSONSerializer)
        return self._queues[cache_key]

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
                for command in dispatch_record(message, self.name, record):
                    pipe.execute_command(*command)
            if message.eta is not None:
                queue.schedule_job(job, not_before(message.eta), pipeline=pipe)
            else:
                queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()

    def _fetch(self, job_id: str):
        from .rq_worker import TaskbridgeJob

        try:
            return TaskbridgeJob.fetch(job_id, connection=connection(), serializer=JSONSerializer)
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
