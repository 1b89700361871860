"""The Celery backend's client side: send, cancel, status, worker presence, checks.

Each declared task is a Celery task under its dotted name (registered by
:mod:`.worker`, which Celery's app configuration loads); a dispatch publishes
by that name, so the client never needs the task registered.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from typing import TYPE_CHECKING, Any

import redis

from celery import current_app
from kombu import pools
from kombu.pools import ProducerPool
from redis.connection import parse_url

from ... import conf
from ...ledger import dispatch_record, ledger
from ...states import TaskStatus
from ..base import Backend, PendingJob, WorkerInfo
from ..redis_lists import drop
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

    @staticmethod
    def _options(message: Message) -> dict[str, Any]:
        queue = message.task.queue
        options = {
            "args": list(message.args), "kwargs": message.kwargs, "task_id": message.job_id, "queue": queue,
            "eta": message.eta, "headers": {HEADER: {**message.meta, "queue": queue}},
        }
        if message.attempt > 1:
            options["retries"] = message.attempt - 1
        return options

    def send(self, message: Message, record: TaskStatus | None) -> None:
        task = message.task
        options = self._options(message)
        if record is not None:
            commands = dispatch_record(message, self.alias, record)
            producers = self._recording_producers()
            if producers is not None:
                with producers.acquire() as producer, celery_transport.publishing_with(message.job_id, commands):
                    current_app.send_task(task.name, producer=producer, **options)
                return
            ledger().write(commands)  # the broker is another Redis: the record first, then the message
        current_app.send_task(task.name, **options)

    def send_many(self, messages: list[Message]) -> None:
        """Every message's LPUSH in one transaction on the broker: all enqueued, or none."""
        producers = self._recording_producers()
        if producers is None:
            return super().send_many(messages)
        amqp = current_app.amqp
        with producers.acquire() as producer, celery_transport.collecting() as commands:
            for message in messages:
                # What send_task does, less what only a caller waiting on an AsyncResult needs
                # (a result subscription per job: two round trips each, most of a move's time).
                options = self._options(message)
                task_message = amqp.create_task_message(
                    message.job_id, message.task.name, options["args"], options["kwargs"],
                    eta=message.eta, retries=options.get("retries", 0),
                )
                routed = amqp.router.route({"queue": options["queue"]}, message.task.name, options["args"], options["kwargs"])
                amqp.send_task_message(producer, message.task.name, task_message, headers=options["headers"], **routed)
        client, _prefix = self._broker()
        with client.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            pipe.execute()

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

    def _broker(self) -> tuple[redis.Redis, str]:
        """A client of the broker's Redis and kombu's key prefix there."""
        app = current_app
        url = app.conf.broker_read_url or app.conf.broker_url or ""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise NotImplementedError(f"listing jobs needs a Redis broker, not {url.split(':', 1)[0]!r}")
        cached = getattr(self, "_broker_client", None)
        if cached is None or cached[0] != (os.getpid(), url):
            prefix = app.conf.broker_transport_options.get("global_keyprefix") or ""
            cached = self._broker_client = ((os.getpid(), url), redis.Redis.from_url(url), prefix)
        return cached[1], cached[2]

    def _list_keys(self, queue: str, prefix: str) -> list[str]:
        """kombu's Redis transport keeps a queue in one list per priority step (the plain name
        for priority 0, which is all taskbridge sends)."""
        return [prefix + queue] + [f"{prefix}{queue}{SEPARATOR}{step}" for step in PRIORITY_STEPS[1:]]

    def pending(self, queue: str) -> list[PendingJob]:
        """Messages waiting in the queue's lists (eta ones included, when no worker has taken
        them), and messages a worker has taken but not acknowledged (kombu's ``unacked`` hash:
        prefetched, or held until their eta, a retry's included)."""
        client, prefix = self._broker()
        found: list[PendingJob] = []
        with client.pipeline(transaction=False) as pipe:
            for list_key in self._list_keys(queue, prefix):
                pipe.lrange(list_key, 0, -1)
            pipe.hgetall(prefix + UNACKED)
            *lists, unacked = pipe.execute()
        for list_key, raws in zip(self._list_keys(queue, prefix), lists):
            for raw in raws:
                job = _pending(json.loads(raw), queue, ("list", list_key, raw))
                if job is not None:
                    found.append(job)
        for tag, raw in unacked.items():
            payload, _exchange, routing_key = json.loads(raw)
            if routing_key == queue:
                job = _pending(payload, queue, ("unacked", tag))
                if job is not None:
                    found.append(job)
        return found

    def remove(self, queue: str, jobs: list[PendingJob]) -> None:
        client, prefix = self._broker()
        by_list: dict[str, list[bytes]] = {}
        tags: list[bytes] = []
        for job in jobs:
            if job.ref[0] == "list":
                by_list.setdefault(job.ref[1], []).append(job.ref[2])
            else:
                tags.append(job.ref[1])
        for list_key, raws in by_list.items():
            drop(client, list_key, raws)
        if tags:
            with client.pipeline(transaction=True) as pipe:
                pipe.hdel(prefix + UNACKED, *tags)
                pipe.zrem(prefix + UNACKED_INDEX, *tags)
                pipe.execute()

    def backlog(self, queue: str) -> int:
        client, prefix = self._broker()
        with client.pipeline(transaction=False) as pipe:
            for list_key in self._list_keys(queue, prefix):
                pipe.llen(list_key)
            pipe.hvals(prefix + UNACKED)
            *lengths, unacked = pipe.execute()
        held = sum(1 for raw in unacked if json.loads(raw)[2] == queue)
        return sum(lengths) + held


#: kombu's Redis transport: the separator of priority lists, its priority steps, the hash of
#: messages delivered to a worker but not acknowledged, and its index by delivery time.
SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"


def _pending(payload: dict[str, Any], queue: str, ref: Any) -> PendingJob | None:
    """A Celery message (task protocol 2, JSON) as a :class:`PendingJob`; ``None`` for one
    taskbridge did not send (no taskbridge header: a periodic tick, a foreign task)."""
    headers = payload.get("headers") or {}
    meta = headers.get(HEADER) or (headers.get("headers") or {}).get(HEADER)
    if not meta or payload.get("content-type") != "application/json":
        return None
    body = payload["body"]
    if (payload.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, kwargs, _embed = json.loads(body)
    eta = headers.get("eta")
    return PendingJob(
        job_id=headers["id"], task=headers["task"], queue=queue, args=tuple(args), kwargs=kwargs,
        meta={key: value for key, value in meta.items() if key != "queue"},
        eta=dt.datetime.fromisoformat(eta) if eta else None,
        attempt=int(headers.get("retries") or 0) + 1, ref=ref,
    )
