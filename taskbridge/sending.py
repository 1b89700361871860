"""Sending one message: record it, hand it to its backend, emit ``task.enqueued``.

The last step of every dispatch (:mod:`taskbridge.dispatch`), of an on-commit
dispatch once its transaction commits (:mod:`taskbridge.outbox`), and of a
periodic tick (:mod:`taskbridge.periodic`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import redis

from . import events
from .backends import get_backend
from .errors import EnqueueError
from .handle import TaskHandle
from .ledger import ledger, payload
from .message import Message
from .states import TaskStatus


def stamped(message: Message) -> Message:
    """The message as sent now: a countdown runs from the send (for ``on_commit``: the
    commit), not from the call."""
    countdown = message.task.countdown
    if not countdown:
        return message
    now = time.time()
    eta = dt.datetime.fromtimestamp(now, dt.timezone.utc) + dt.timedelta(seconds=countdown)
    return dataclasses.replace(message, enqueued_at=now, eta=eta)


def _release(job_id: str) -> None:
    """Drop the record of a job that was not enqueued."""
    try:
        ledger().release(job_id)
    except redis.RedisError:
        pass


def _unanswered(exc: BaseException) -> bool:
    """Whether the broker timed out, whatever library wrapped the error.

    Then what was written is unknown: a stalled Redis may still apply the buffered
    write when it resumes, and a clean-up would wait out a second timeout only to be
    unknown too. The job is left to the ledger (it runs at most once) and the reconciler.
    A refused connection wrote nothing and is cleaned up at once."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (redis.TimeoutError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def send(message: Message, backend_name: str) -> TaskHandle:
    """Record and enqueue one message; a failed enqueue leaves no record behind."""
    task = message.task
    backend = get_backend(backend_name)
    state = TaskStatus.SCHEDULED if message.eta else TaskStatus.QUEUED
    jobs = ledger()
    if message.fixed_id:
        try:
            held = jobs.claim(message.job_id, backend_name, task.queue, task.name, state, message.correlation_id, payload(message))
        except redis.RedisError as exc:
            raise EnqueueError(f"{task.name}: could not record job {message.job_id}: {exc}") from exc
        if held is not None:
            subject = events.Subject(held[0], held[1], task.name, message.job_id, 1, message.correlation_id)
            events.emit(events.SKIPPED, subject, reason=f"duplicate job id (already {held[2]})")
            return TaskHandle(held[0], held[1], message.job_id)
    sent_at = time.time()  # the event's time: before any worker can have the job
    try:
        backend.send(message, record=None if message.fixed_id else state)
    except Exception as exc:
        if _unanswered(exc):
            raise EnqueueError(
                f"{task.name}: no answer for job {message.job_id} on {backend_name}: {exc} (not confirmed; if the "
                "broker took it before it stopped answering, it runs once)"
            ) from exc
        _release(message.job_id)
        raise EnqueueError(f"{task.name}: could not enqueue job {message.job_id} on {backend_name}: {exc}") from exc
    events.emit(
        events.ENQUEUED, events.Subject(backend_name, task.queue, task.name, message.job_id, 1, message.correlation_id),
        route=message.route, timestamp=events.iso(sent_at),
        eta=message.eta.isoformat() if message.eta else None,
        countdown=task.countdown if message.eta and task.countdown else None,
    )
    backend.sent(message)
    return TaskHandle(backend_name, task.queue, message.job_id)
