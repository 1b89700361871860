"""The interface every backend implements; the router and the execution path use nothing else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..message import Message
    from ..states import TaskStatus
    from ..declaration import Task


class Backend(ABC):
    name: str

    def register(self, task: Task) -> None:
        """Make a declared task known to this backend's workers (no-op where importing suffices)."""

    @abstractmethod
    def send(self, message: Message, record: TaskStatus | None) -> None:
        """Enqueue ``message``; when ``record`` is given, also write the job's ledger record
        (before the job can start), atomically with the enqueue where the backend allows."""

    @abstractmethod
    def cancel(self, job_id: str, queue: str, phase: str) -> None:
        """Make sure a job that is ``phase`` (queued, scheduled, retrying, started) does not run on."""

    @abstractmethod
    def status(self, job_id: str, queue: str) -> TaskStatus | None:
        """The state the backend itself reports, or ``None`` when it does not know the job."""
