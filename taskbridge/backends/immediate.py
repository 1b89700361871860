"""A backend that runs each job in the dispatching process, before ``enqueue`` returns.

For unit tests and local development without Redis workers, as ``django.tasks``'
ImmediateBackend is. A job still goes through the one execution path, so it has
a ledger record, a handle, the same events, retries (run at once, countdowns
not waited for) and failures recorded rather than raised at the caller. A job
with an eta also runs at once. There is no queue: nothing to cancel, no workers.

    TASKBRIDGE = {
        "BACKENDS": {"immediate": {"BACKEND": "taskbridge.backends.immediate.ImmediateBackend"}},
        "BASELINE": "immediate",
        "CANDIDATE": "immediate",
    }
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, NoReturn

from .. import execution
from ..ledger import dispatch_record, ledger
from .base import Backend, PendingJob

if TYPE_CHECKING:
    from ..message import Message
    from ..states import TaskStatus

logger = logging.getLogger(__name__)


class _RetryNow(Exception):
    """Ends an attempt that asked for a retry; :meth:`ImmediateBackend.sent` runs the next."""


class _ImmediateJob:
    timeout_errors: tuple[type[BaseException], ...] = ()
    kill_past_hard_limit = False

    def __init__(self, backend: str, message: Message, attempt: int) -> None:
        self.backend = backend
        self.job_id = message.job_id
        self.queue = message.task.queue
        self.attempt = attempt
        self.correlation_id = message.correlation_id
        self.generation = message.generation
        self.due_at = time.time()

    def schedule_retry(self, countdown: float) -> NoReturn:
        raise _RetryNow(countdown)


class ImmediateBackend(Backend):
    runs_in_workers = False

    def send(self, message: Message, record: TaskStatus | None) -> None:
        if record is not None:
            ledger().write(dispatch_record(message, self.alias, record))

    def sent(self, message: Message) -> None:
        attempt = 1
        while True:
            try:
                execution.run(message.task, message.args, message.kwargs, _ImmediateJob(self.alias, message, attempt))
                return
            except _RetryNow:
                attempt += 1
            except Exception:
                logger.info("job %s of %s failed; its record and event say why", message.job_id, message.task.name)
                return

    def cancel(self, job_id: str, queue: str, phase: str) -> None:
        """Nothing to do: a job has ended before its handle is returned."""

    def status(self, job_id: str, queue: str) -> TaskStatus | None:
        return None

    def pending(self, queue: str) -> list[PendingJob]:
        """Never any: a job has run before its dispatch returns, so there is nothing to move."""
        return []
