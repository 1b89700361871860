"""The interface every backend implements; routing, dispatch, handles, the cutover page and
the checks use nothing else.

A backend is configured under an alias in ``TASKBRIDGE["BACKENDS"]``
(``{"rq": {"BACKEND": "taskbridge.backends.rq.backend.RQBackend"}}``) and
instantiated once per process with that alias and its options. Everything that
knows one task queue library lives in that backend's package: sending, cancelling
and reading a job, the worker classes that run jobs through
:func:`taskbridge.execution.run`, periodic glue, worker presence and checks.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.core.checks import CheckMessage

    from ..message import Message
    from ..states import TaskStatus


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker process, named so an operator can find it: host and pid."""

    name: str
    host: str
    pid: int | None
    queues: tuple[str, ...]

    @property
    def label(self) -> str:
        """The worker's own name when it was given one, else host and pid (not a random hex id)."""
        generated = len(self.name) == 32 and all(c in "0123456789abcdef" for c in self.name)
        where = f"{self.host}:{self.pid}" if self.pid else self.host
        if generated:
            return where or self.name
        return f"{self.name} ({where})" if self.pid else self.name


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A job a backend holds that no worker has started: queued, scheduled (an eta) or
    waiting for a retry. Everything needed to send it again elsewhere, unchanged."""

    job_id: str
    task: str
    queue: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: taskbridge's job meta as sent (correlation_id, due_at, route).
    meta: dict[str, Any]
    #: When it may start; ``None``: now.
    eta: dt.datetime | None
    #: The attempt number it will run as (2 or more for a retry).
    attempt: int
    #: What the backend needs to remove it again (a raw message, a registry name...).
    ref: Any = field(default=None, compare=False)


class Backend(ABC):
    #: Do separate worker processes run the jobs? ``False``: ``send`` runs the job
    #: before it returns (no queue, no worker presence, nothing to cancel).
    runs_in_workers: bool = True

    #: Extra ``manage.py taskbridge`` subcommands this backend brings, name -> module path
    #: (each module as in :mod:`taskbridge.cli`).
    commands: dict[str, str] = {}

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        #: The name this backend has in settings, events, job records and handles.
        self.alias = alias
        self.params = params

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"

    @abstractmethod
    def send(self, message: Message, record: TaskStatus | None) -> None:
        """Enqueue ``message``; when ``record`` is given, also write the job's ledger record
        (before the job can start), atomically with the enqueue where the backend allows.
        Raises on any failure; then nothing may be left enqueued."""

    def send_many(self, messages: list[Message]) -> None:
        """Enqueue ``messages`` of jobs whose ledger records exist already (a backlog moved
        here), in as few round trips as the backend allows. Raises on failure; then none
        of them may be left enqueued, as for :meth:`send`."""
        for message in messages:
            self.send(message, record=None)

    @abstractmethod
    def cancel(self, job_id: str, queue: str, phase: str) -> None:
        """Make sure a job that is ``phase`` (queued, scheduled, retrying, started) does not run on."""

    @abstractmethod
    def status(self, job_id: str, queue: str) -> TaskStatus | None:
        """The state the backend itself reports, or ``None`` when it does not know the job."""

    def sent(self, message: Message) -> None:
        """Called once a dispatch is recorded (its ``task.enqueued`` event written). A backend
        that runs jobs in the dispatching process (``runs_in_workers = False``) runs it here."""

    def workers(self) -> dict[str, list[WorkerInfo]]:
        """Live workers by the queue they consume; may take up to a second (a broadcast)."""
        return {}

    def pending(self, queue: str) -> list[PendingJob]:
        """The jobs of ``queue`` that have not started, as this backend stores them: queued,
        scheduled, and waiting for a retry. A snapshot: a worker may take any of them
        meanwhile (the job's ledger record decides who runs it, see :mod:`taskbridge.move`)."""
        return []

    def remove(self, queue: str, jobs: list[PendingJob]) -> None:
        """Remove the messages of ``jobs`` (from :meth:`pending`) that are still waiting.
        One a worker has already taken is left alone: the ledger makes it a no-op."""

    def backlog(self, queue: str) -> int:
        """How many messages of ``queue`` this backend holds that no worker has started
        (queued, scheduled, retries waiting), counted without reading them. A message left
        behind by a move that a worker had already taken counts until a worker drops it."""
        return 0

    def check(self) -> list[CheckMessage]:
        """System check messages about this backend's configuration."""
        return []

    # -- custody: what the reconciler (taskbridge.reconcile) asks of a backend that runs jobs in workers

    def held_jobs(self) -> set[str]:
        """Ids of every job this backend holds anywhere right now (queues, scheduled or delayed
        sets, messages handed to a worker and not yet acknowledged, runs in progress), read in
        one atomic snapshot so a job moving between them is seen once."""
        return set()

    def hand_back(self, alive: dict[str, Any], grace: float) -> list[str]:
        """Put back in their queues the jobs taken by a worker that is no longer alive (``alive``:
        :class:`taskbridge.presence.Presence` by name) and held so for more than ``grace``
        seconds; returns their ids. What a live worker holds is left alone."""
        return []

    def reap(self, name: str, presence: Any) -> None:
        """Forget a dead worker: take it off this backend's live lists and release the locks it
        held (RQ's scheduler lock), so its duties move to live workers at once."""

    def maintain(self) -> None:
        """Duties a dead worker may have left undone, run by the active reconciler each pass
        (RQ: move due scheduled jobs of queues whose scheduler lock is free)."""
