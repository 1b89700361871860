"""Dispatch: validate, route, build the message, send it (:mod:`taskbridge.sending`) now or
when the transaction commits (:mod:`taskbridge.outbox`). The same steps for every backend."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from . import arguments, correlation, routing
from .errors import ArgumentError
from .handle import TaskHandle
from .message import Message
from .outbox import dispatch_on_commit
from .sending import send, stamped

if TYPE_CHECKING:
    from .declaration import Task


def _routing_key(task: Task, bound_args: dict[str, Any], job_id: str) -> str:
    if task.routing_key is not None and bound_args.get(task.routing_key) is not None:
        return f"{task.routing_key}={bound_args[task.routing_key]}"
    return job_id


def enqueue(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], *, on_commit: bool = False) -> TaskHandle:
    """Dispatch ``task(*args, **kwargs)`` and return its handle.

    The route is decided here, once: the job lives on that backend until it
    ends, retries included. With ``on_commit`` the dispatch is written in the
    current transaction and sent when it commits, or later by the reconciler if
    the broker cannot take it then (:mod:`taskbridge.outbox`); the handle is valid
    at once, and nothing is sent if the transaction rolls back.
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
        dispatch_on_commit(message, decided.backend)
        return TaskHandle(decided.backend, task.queue, job_id)
    return send(stamped(message), decided.backend)
