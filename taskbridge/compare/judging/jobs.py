"""Per-job findings: stranded, pending and duplicate jobs.

These need a job's events joined by job id, which :class:`~.reader.Partial`
has already done whatever order the lines came in. A job belongs to the
window when its first ``task.enqueued`` does; a job whose enqueue is not in
the log at all is counted (``without_enqueue``) but never called stranded.
A moved job belongs to the backend (and queue) of its latest ``task.moved``
and is due no earlier than that move: the backend it left cannot lose it, and
the one it went to had it only from then.
``task.skipped`` events create no job: a skipped dispatch (duplicate job id,
a periodic tick another backend owns) never queued anything.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import filterfalse

from ..reading.reader import Group, Partial
from ..times import format_iso


@dataclass(frozen=True)
class StrandedJob:
    """Enqueued, no terminal event, and due longer than the horizon ago: a job the backend lost."""

    job_id: str
    queue: str
    task: str
    backend: str
    enqueued_at: float
    due_at: float
    age: float
    started: bool

    @property
    def last_seen(self) -> str:
        return "started" if self.started else "queued"

    def as_dict(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "queue": self.queue,
            "task": self.task,
            "backend": self.backend,
            "enqueued_at": format_iso(self.enqueued_at),
            "due_at": format_iso(self.due_at),
            "age_seconds": round(self.age, 6),
            "last_seen": self.last_seen,
        }


@dataclass(frozen=True)
class DuplicateJob:
    """A job id with more than one ``task.succeeded``: work done twice."""

    job_id: str
    queue: str
    task: str
    backends: tuple[str, ...]
    successes: int

    def as_dict(self) -> dict[str, object]:
        return {"job_id": self.job_id, "queue": self.queue, "task": self.task, "backends": list(self.backends), "successes": self.successes}


@dataclass(frozen=True)
class JobFindings:
    jobs: int
    stranded: list[StrandedJob]
    pending: Counter[tuple[str, str]]
    duplicates: list[DuplicateJob]
    without_enqueue: int


def find_jobs(part: Partial, now: float, horizon: float, since: float = -math.inf, until: float = math.inf) -> JobFindings:
    """Classify the jobs enqueued in ``[since, until)`` as of ``now``.

    The passes over every job id run in C (``filterfalse``, ``map`` over
    ``__contains__``); only the unfinished jobs (a handful, unless something
    is wrong) are looked at one by one.
    """
    enqueued, succeeded, ended = part.enqueued, part.succeeded, part.ended
    unfinished = [job_id for job_id in filterfalse(succeeded.__contains__, enqueued) if job_id not in ended]
    whole_log = since == -math.inf and until == math.inf
    enqueue_at = part.enqueue_at
    in_window = len(enqueued) if whole_log else sum(1 for row in enqueued.values() if since <= enqueue_at[row] < until)

    stranded: list[StrandedJob] = []
    pending: Counter[tuple[str, str]] = Counter()
    for job_id in unfinished:
        at, due, group = part.enqueue_of(job_id)
        if not since <= at < until:
            continue
        due = max(due, part.retry_due.get(job_id, -math.inf))
        move = part.moves.get(job_id)
        if move is not None:
            due, group = max(due, move[1]), move[2]
        queue, task, backend = group
        if now - due > horizon:
            stranded.append(StrandedJob(job_id, queue, task, backend, at, due, now - at, job_id in part.started))
        else:
            pending[(queue, backend)] += 1
    stranded.sort(key=lambda job: (job.enqueued_at, job.job_id))

    duplicates: list[DuplicateJob] = []
    for job_id, extra in part.extra_successes.items():
        first = part.enqueue_of(job_id) if job_id in enqueued else None
        if first is not None:
            if not since <= first[0] < until:
                continue
        elif not any(math.isnan(at) or since <= at < until for at, _ in extra):
            continue
        group: Group = part.moves[job_id][2] if job_id in part.moves else (first[2] if first is not None else succeeded[job_id])
        backends = tuple(sorted({succeeded[job_id][2], *(other[2] for _, other in extra)}))
        duplicates.append(DuplicateJob(job_id, group[0], group[1], backends, 1 + len(extra)))
    duplicates.sort(key=lambda job: (job.queue, job.job_id))

    # ``started`` holds no finished job (see Partial), so only succeeded-and-ended jobs could count twice
    was_enqueued = enqueued.__contains__
    orphans = (
        len(succeeded) - sum(map(was_enqueued, succeeded))
        + sum(1 for job_id in ended if job_id not in enqueued and job_id not in succeeded)
        + len(part.started) - sum(map(was_enqueued, part.started))
        + sum(1 for job_id in part.moves if not (job_id in enqueued or job_id in succeeded or job_id in ended or job_id in part.started))
    )
    return JobFindings(in_window, stranded, pending, duplicates, orphans)
