"""The Celery backend's client side: send, cancel, status, worker presence, checks.

Each declared task is a Celery task under its dotted name (registered by
:mod:`.worker`, which Celery's app configuration loads); a dispatch publishes
by that name, so the client never needs the task registered.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from celery import current_app
from kombu import pools
from kombu.pools import ProducerPool
from redis.connection import parse_url

from ... import conf
from ...ledger import dispatch_record, ledger
from ...states import TaskStatus
from ..base import Backend, WorkerInfo
from . import transport as celery_transport

if TYPE_CHECKING:
    from ...message import Message

#: The message header that carries taskbridge's job meta.
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
    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._producers: tuple[int, _RecordingProducers | None] | None = None
        self._custody: Any = None

    def _keeper(self) -> Any:
        if self._custody is None:
            from .custody import CeleryCustody

            self._custody = CeleryCustody()
        return self._custody

    def held_jobs(self) -> set[str]:
        return self._keeper().held_jobs()

    def hand_back(self, alive: dict[str, Any], grace: float) -> list[str]:
        return self._keeper().hand_back(alive, grace)

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
            commands = dispatch_record(message, self.alias, record)
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

    def workers(self) -> dict[str, list[WorkerInfo]]:
        by_queue: dict[str, list[WorkerInfo]] = {}
        replies = current_app.control.inspect(timeout=1.0).active_queues() or {}
        for name, queues in replies.items():
            consumed = tuple(queue["name"] for queue in queues)
            host = name.partition("@")[2] or name
            worker = WorkerInfo(name=name, host=host, pid=None, queues=consumed)
            for queue in consumed:
                by_queue.setdefault(queue, []).append(worker)
        return by_queue
