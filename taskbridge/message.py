"""What a dispatch hands to a backend, and what a worker hands back to the execution path."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    from .declaration import Task


@dataclass(frozen=True, slots=True)
class Message:
    task: Task
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    job_id: str
    fixed_id: bool
    correlation_id: str
    route: str
    enqueued_at: float
    eta: dt.datetime | None
    #: The attempt the job runs as: 1, or more for a waiting retry moved to another backend.
    attempt: int = 1
    #: The job record's generation this message belongs to (bumped by each move of the job);
    #: a worker runs only a message of the current one.
    generation: int = 0

    @property
    def meta(self) -> dict[str, Any]:
        """Carried with the job on both backends (RQ job meta, Celery message header)."""
        due = self.eta.timestamp() if self.eta else self.enqueued_at
        meta = {"correlation_id": self.correlation_id, "due_at": due, "route": self.route}
        if self.attempt > 1:
            meta["attempt"] = self.attempt
        if self.generation:
            meta["gen"] = self.generation
        return meta


class RunningJob(Protocol):
    """A backend's view of the job a worker is running, as the execution path needs it."""

    backend: str
    job_id: str
    queue: str
    attempt: int
    correlation_id: str
    due_at: float
    #: The generation of the delivered message (``Message.generation``; 0 for one never moved).
    generation: int
    timeout_errors: tuple[type[BaseException], ...]
    #: Whether the process may be killed once the job is past its hard time limit: true in a
    #: worker's job process, never in the process that dispatched the job.
    kill_past_hard_limit: bool

    def schedule_retry(self, countdown: float) -> NoReturn:
        """Arrange the next attempt on this backend, then raise what makes the worker let go."""
