"""What any process may do about a job whose process died: fail it once, visibly.

Worker-side code (:mod:`taskbridge.execution`) runs jobs; this module is what a
client, a worker's supervising process or the reconciler calls when it finds a
job that nobody will finish: the job is failed in the ledger (at most once)
and a ``task.failed`` event says why.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from . import conf, events, registry
from .ledger import ledger
from .states import TaskStatus


#: How many times a job whose task declared ``rerun_if_worker_lost`` is re-run after its worker
#: died; one more death fails it with ``worker_lost`` (a job that kills its worker is not re-run forever).
MAX_RERUNS = 1


def timeout_message(seconds: int) -> str:
    return f"exceeded its time limit of {seconds}s"


def unknown_task(backend: str, queue: str, job_id: str, name: str, correlation_id: str | None, attempt: int = 1) -> None:
    """Record a message naming a task this worker cannot import: failed, visibly, on both backends."""
    error = f"no task named {name!r} is declared in this project"
    if ledger().fail(job_id, "unknown_task", error, conf.option("RESULT_TTL")) != TaskStatus.FAILED:
        return
    subject = events.Subject(backend, queue, name, job_id, attempt, correlation_id)
    events.emit(events.FAILED, subject, error_type="unknown_task", error=error)


def lease_ran_out(job_id: str) -> bool:
    """A started job's lease has run out: its whole worker died. Fail it (once)."""
    return job_lost(job_id, "its worker stopped renewing the job's lease", lease_gone=True)


def job_lost(job_id: str, how: str, lease_gone: bool = False) -> bool:
    """The process running a job died (``how``: e.g. ``killed by signal 9 (SIGKILL)``).

    Called by whichever process notices: the Celery worker's main process or
    the RQ worker that forked the work horse (at once), or, when the whole
    worker died, the reconciler or any process that asks the job's status
    after its lease ran out (``lease_gone``). The job is failed once, with
    ``error_type`` ``timeout`` when a worker stopped it past its time limit
    and ``worker_lost`` otherwise; a job that was cancelled (which also stops
    its process) or has already ended is left alone. Not retried, unless its
    task declared ``rerun_if_worker_lost``: then it is sent again, once
    (:data:`MAX_RERUNS`); see docs/parity.md.
    """
    record = ledger().get(job_id)
    if record is None or record.state != TaskStatus.STARTED:
        return False
    ran = time.time() - record.started if record.started and not lease_gone else None
    if record.timeout and ran is not None and ran >= record.timeout:
        error_type, error = "timeout", timeout_message(record.timeout)
    else:
        error_type, error = "worker_lost", f"the process running the job died ({how})"
    declared = registry.get(record.task) if record.task else None
    if declared is not None and declared.rerun_if_worker_lost and error_type == "worker_lost" and record.reruns < MAX_RERUNS:
        return _rerun(record, how, lease_gone)
    ttl = declared.effective_result_ttl if declared else conf.option("RESULT_TTL")
    if not ledger().lose(job_id, record.attempt, error_type, error, ttl, lease_gone):
        return False
    subject = events.Subject(record.backend, record.queue, record.task, job_id, record.attempt, record.correlation_id)
    events.emit(
        events.FAILED, subject, duration_ms=events.ms(ran) if ran is not None else None, error_type=error_type, error=error,
    )
    return True


def _rerun(record: Any, how: str, lease_gone: bool) -> bool:
    """Put a job whose worker died back on its backend (its task is idempotent, it said so)."""
    from .errors import EnqueueError
    from .redelivery import send_again

    if not ledger().requeue(record.job_id, record.attempt, lease_gone):
        return False
    try:
        send_again(record, f"re-run: the process running it died ({how})")
    except EnqueueError:
        pass  # queued in the ledger, on no backend: the reconciler sends it when the broker takes it
    return True


def describe_exit(signal_number: int | None = None, exit_code: int | None = None) -> str:
    """How a process ended, worded the same for both backends."""
    if signal_number:
        try:
            return f"killed by signal {signal_number} ({signal.Signals(signal_number).name})"
        except ValueError:
            return f"killed by signal {signal_number}"
    return f"exited with code {exit_code}" if exit_code is not None else "exited"
