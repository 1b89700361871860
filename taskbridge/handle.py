"""TaskHandle: a job's address (backend, queue, job id) and what can be asked of it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import conf, events
from .backends import get_backend
from .custody import lease_ran_out
from .errors import ResultTimeout, TaskCancelled, TaskFailed
from .ledger import ledger
from .states import ACTIVE, TaskStatus


@dataclass(frozen=True, slots=True)
class TaskHandle:
    backend: str
    queue: str
    job_id: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.queue}:{self.job_id}"

    @classmethod
    def from_string(cls, value: str) -> TaskHandle:
        """Parse ``str(handle)``, e.g. a value stored in a model field."""
        parts = value.split(":", 2) if isinstance(value, str) else []
        aliases = conf.backends()
        if len(parts) != 3 or not all(parts) or parts[0] not in aliases:
            raise ValueError(f"not a task handle: {value!r} (expected '<{'|'.join(aliases)}>:<queue>:<job id>')")
        return cls(*parts)

    def _backend(self):
        return get_backend(self.backend)

    def _located(self, record: Any) -> TaskHandle:
        """Where the job really is, by its record: the handle an on-commit dispatch of a fixed
        job id returns names the backend decided then, not that of the live job holding the id."""
        if record is not None and record.backend and record.backend != self.backend:
            return TaskHandle(record.backend, record.queue or self.queue, self.job_id)
        return self

    def status(self) -> TaskStatus:
        """The job's state. A job the ledger still calls active is checked against its
        backend, and a started job whose lease has run out (its whole worker died) is
        recorded as failed here, so no job shows as running forever."""
        jobs = ledger()
        record = jobs.get(self.job_id)
        if record is not None and record.state == TaskStatus.STARTED and not jobs.lease_held(self.job_id):
            if lease_ran_out(self.job_id):
                record = jobs.get(self.job_id)
        if record is not None and record.state not in ACTIVE:
            return record.state
        where = self._located(record)
        seen = where._backend().status(self.job_id, where.queue)
        if seen is not None and seen not in ACTIVE:
            return seen
        return record.state if record is not None else (seen or TaskStatus.UNKNOWN)

    def result(self, timeout: float | None = None, poll: float = 0.05) -> Any:
        """The job's return value, waiting up to ``timeout`` seconds (``None``: don't wait)."""
        deadline = time.monotonic() + (timeout or 0)
        while True:
            state = self.status()
            if state == TaskStatus.SUCCEEDED:
                return ledger().get(self.job_id).result
            if state == TaskStatus.FAILED:
                record = self._failure_record()
                error_type = (record.error_type if record else None) or "unknown"
                raise TaskFailed(self, error_type, (record.error if record else None) or f"{self.backend} reports the job failed")
            if state == TaskStatus.CANCELLED:
                raise TaskCancelled(self)
            if time.monotonic() >= deadline:
                raise ResultTimeout(f"job {self} is still {state.value} after {timeout}s")
            time.sleep(poll)

    def _failure_record(self, wait: float = 3):
        """The ledger's record of a failure the backend already reports: the process that
        noticed a dead worker writes it a moment after the backend stores its FAILURE."""
        deadline = time.monotonic() + wait
        record = ledger().get(self.job_id)
        while (record is None or record.state != TaskStatus.FAILED) and time.monotonic() < deadline:
            time.sleep(0.05)
            record = ledger().get(self.job_id)
        return record

    def cancel(self, grace: float = 0) -> bool:
        """Cancel the job: a queued or scheduled job never runs, a running one is stopped
        (Celery: revoke with terminate; RQ: the stop-job command).

        With ``grace`` seconds, a running job is first given that long to notice
        :func:`taskbridge.context.is_cancelled` and return by itself (this call
        waits), and is stopped only if it has not. Either way the job is recorded
        as cancelled. Returns False when the job had already finished.
        """
        jobs = ledger()
        phase = jobs.cancel(self.job_id)
        if phase is None:
            return False
        record = jobs.get(self.job_id)
        if phase == TaskStatus.STARTED and grace > 0:
            deadline = time.monotonic() + grace
            while record is not None and record.ended is None and time.monotonic() < deadline:
                time.sleep(0.05)
                record = jobs.get(self.job_id)
        where = self._located(record)
        if record is None or record.ended is None or phase != TaskStatus.STARTED:
            where._backend().cancel(self.job_id, where.queue, phase)
        subject = events.Subject(
            where.backend, where.queue, record.task if record else None, self.job_id,
            max(record.attempt, 1) if record else 1, record.correlation_id if record else None,
        )
        events.emit(events.CANCELLED, subject, phase=phase)
        return True
