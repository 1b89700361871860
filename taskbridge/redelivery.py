"""Sending a job again, with its own id, from what its ledger record kept of it.

Used when a backend lost a job (the reconciler found it in no queue, registry or
worker) and when a job whose worker died is re-run (its task declared
``rerun_if_worker_lost``). The ledger keeps the job from running twice: a
second delivery of a job that is running or has ended is refused at begin.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from . import events, registry
from .errors import EnqueueError
from .ledger import JobRecord
from .message import Message

logger = logging.getLogger(__name__)


def message_of(record: JobRecord) -> Message:
    """The job's message, rebuilt from its record; raises LookupError when it cannot be."""
    declared = registry.get(record.task) if record.task else None
    if declared is None:
        raise LookupError(f"job {record.job_id}: no task named {record.task!r} is declared in this process")
    if not record.payload:
        raise LookupError(f"job {record.job_id}: its record keeps no payload to send it again")
    data = json.loads(record.payload)
    eta = dt.datetime.fromisoformat(data["eta"]) if data.get("eta") else None
    if eta is not None and eta < dt.datetime.now(dt.timezone.utc):
        eta = None
    return Message(
        task=declared, args=tuple(data["args"]), kwargs=dict(data["kwargs"]), job_id=record.job_id, fixed_id=False,
        correlation_id=data.get("correlation_id") or record.job_id, route=data.get("route") or "resent",
        enqueued_at=float(data.get("enqueued_at") or 0), eta=eta, generation=record.generation,
    )


def send_again(record: JobRecord, reason: str) -> None:
    """Send the job to its own backend again (same id); raises EnqueueError when that fails."""
    from .backends import get_backend

    message = message_of(record)
    try:
        get_backend(record.backend).send(message, record=None)
    except Exception as exc:
        raise EnqueueError(f"{record.task}: could not send job {record.job_id} again to {record.backend}: {exc}") from exc
    subject = events.Subject(record.backend, record.queue, record.task, record.job_id, max(record.attempt, 1), record.correlation_id)
    events.emit(events.REQUEUED, subject, reason=reason)
