"""Durable on-commit dispatch (a transactional outbox).

``Task.enqueue_on_commit`` inside a transaction writes the dispatch as a row
(:class:`~taskbridge.models.OutboxDispatch`) in that same transaction, so the
dispatch commits or rolls back with the caller's own rows. Right after the
commit the row is sent and deleted; when that fails (broker down, process
killed between commit and send) the row stays, and the reconciler sends it once
the broker takes it (:func:`relay_pending`). A committed row therefore never
points at a job that will never exist.

Each send happens under the row's lock (``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so several relays never send one row twice; a row whose job
already has a ledger record was sent by a relay that died before deleting it,
and is only deleted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from django.db import DatabaseError, transaction

from . import registry
from .errors import EnqueueError
from .ledger import ledger
from .message import Message
from .sending import send, stamped

logger = logging.getLogger(__name__)

#: Rows younger than this are left to the relay right after their commit.
RELAY_AFTER_SECONDS = 5.0


def _as_row(message: Message) -> dict[str, Any]:
    task = message.task
    return {
        "args": list(message.args), "kwargs": message.kwargs, "correlation_id": message.correlation_id,
        "route": message.route, "fixed_id": message.fixed_id, "countdown": task.countdown,
        "eta": task.eta.isoformat() if task.eta else None, "queue": task.queue,
    }


def _message(row: Any) -> Message:
    declared = registry.get(row.task)
    if declared is None:
        raise LookupError(f"no task named {row.task!r} is declared in this process")
    data = row.message
    eta = dt.datetime.fromisoformat(data["eta"]) if data.get("eta") else None
    task = dataclasses.replace(declared, countdown=data.get("countdown"), eta=eta,
                               job_id=row.job_id if data.get("fixed_id") else None)
    return Message(
        task=task, args=tuple(data["args"]), kwargs=dict(data["kwargs"]), job_id=row.job_id, fixed_id=bool(data.get("fixed_id")),
        correlation_id=data["correlation_id"], route=data["route"], enqueued_at=row.created.timestamp(), eta=eta,
    )


def dispatch_on_commit(message: Message, backend: str) -> None:
    """Write the dispatch in the current transaction and send it after the commit; outside a
    transaction, send it now (raising EnqueueError as ``enqueue`` does)."""
    from .models import OutboxDispatch

    if not transaction.get_connection().in_atomic_block:
        send(stamped(message), backend)
        return
    row = OutboxDispatch.objects.create(job_id=message.job_id, backend=backend, task=message.task.name, message=_as_row(message))
    transaction.on_commit(lambda: relay(row.pk))


def relay(pk: int) -> bool:
    """Send one outbox row (if no other relay holds it) and delete it; False when it stays."""
    from .models import OutboxDispatch

    try:
        with transaction.atomic():
            row = OutboxDispatch.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if row is None:
                return True
            if not row.message.get("fixed_id") and ledger().get(row.job_id) is not None:
                row.delete()  # sent by a relay that died before deleting the row
                return True
            try:
                send(stamped(_message(row)), row.backend)
            except (EnqueueError, LookupError) as exc:
                row.attempts += 1
                row.last_error = str(exc)[:2000]
                row.save(update_fields=["attempts", "last_error"])
                logger.warning("outbox: job %s not sent yet (%s); the reconciler sends it later", row.job_id, exc)
                return False
            row.delete()
            return True
    except DatabaseError as exc:
        logger.warning("outbox: could not relay row %s: %s", pk, exc)
        return False
    except Exception as exc:  # a Redis error reading the ledger: the row stays for the reconciler
        logger.warning("outbox: could not relay row %s: %s", pk, exc)
        return False


def relay_pending(limit: int = 500) -> int:
    """Send the rows the relay after commit did not (the reconciler calls this each pass)."""
    from django.utils import timezone

    from .models import OutboxDispatch

    before = timezone.now() - dt.timedelta(seconds=RELAY_AFTER_SECONDS)
    pks = list(OutboxDispatch.objects.filter(created__lt=before).values_list("pk", flat=True)[:limit])
    return sum(1 for pk in pks if relay(pk))
