"""Dispatch: validate, route, record, enqueue, emit. The same steps for both backends."""

from __future__ import annotations

import datetime as dt
import dataclasses
import time
import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction

from . import arguments, correlation, events, routing
from .backends import get_backend
from .errors import ArgumentError, EnqueueError
from .handle import TaskHandle
from .ledger import ledger
from .message import Message
from .states import TaskStatus

if TYPE_CHECKING:
    from .declaration import Task


def _routing_key(task: Task, bound_args: dict[str, Any], job_id: str) -> str:
    if task.routing_key is not None and bound_args.get(task.routing_key) is not None:
        return f"{task.routing_key}={bound_args[task.routing_key]}"
    return job_id


def enqueue(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], *, on_commit: bool = False) -> TaskHandle:
    """Dispatch ``task(*args, **kwargs)`` and return its handle.

    The route is decided here, once: the job lives on that backend until it
    ends, retries included. With ``on_commit`` the job is sent when the
    current transaction commits (the handle is valid at once); nothing is sent
    if it rolls back.
    """
    arguments.validate(task.name, args, kwargs)
    try:
        bound = task.bind(args, kwargs)
    except TypeError as exc:
        raise ArgumentError(task.name, "(call)", f"does not match the signature: {exc}") from None
    job_id = task.job_id or uuid.uuid4().hex
    decided = routing.route(task.name, task.queue, _routing_key(task, bound.arguments, job_id))
    message = Message(
        task=task,
        args=tuple(args),
        kwargs=dict(kwargs),
        job_id=job_id,
        fixed_id=task.job_id is not None,
        correlation_id=correlation.get_or_new(),
        route=str(decided),
        enqueued_at=time.time(),
        eta=task.eta,
    )
    if on_commit:
        transaction.on_commit(lambda: send(_stamped(message), decided.backend))
        return TaskHandle(decided.backend, task.queue, job_id)
    return send(_stamped(message), decided.backend)


def _stamped(message: Message) -> Message:
    """The message as sent now: a countdown runs from the send (for ``on_commit``: the
    commit), not from the call."""
    countdown = message.task.countdown
    if not countdown:
        return message
    now = time.time()
    eta = dt.datetime.fromtimestamp(now, dt.timezone.utc) + dt.timedelta(seconds=countdown)
    return dataclasses.replace(message, enqueued_at=now, eta=eta)


def send(message: Message, backend_name: str) -> TaskHandle:
    """Record and enqueue one message; a failed enqueue leaves no record behind."""
    task = message.task
    backend = get_backend(backend_name)
    state = TaskStatus.SCHEDULED if message.eta else TaskStatus.QUEUED
    jobs = ledger()
    if message.fixed_id:
        held = jobs.claim(message.job_id, backend_name, task.queue, task.name, state, message.correlation_id)
        if held is not None:
            subject = events.Subject(held[0], held[1], task.name, message.job_id, 1, message.correlation_id)
            events.emit(events.SKIPPED, subject, reason=f"duplicate job id (already {held[2]})")
            return TaskHandle(held[0], held[1], message.job_id)
    handed_over = time.time()  # a worker may start the job, and say so, before send() returns
    try:
        backend.send(message, record=None if message.fixed_id else state)
    except Exception as exc:
        jobs.release(message.job_id)
        raise EnqueueError(f"{task.name}: could not enqueue job {message.job_id} on {backend_name}: {exc}") from exc
    events.emit(
        events.ENQUEUED, events.Subject(backend_name, task.queue, task.name, message.job_id, 1, message.correlation_id),
        at=handed_over,
        route=message.route,
        eta=message.eta.isoformat() if message.eta else None,
        countdown=task.countdown if message.eta and task.countdown else None,
    )
    backend.sent(message)
    return TaskHandle(backend_name, task.queue, message.job_id)
