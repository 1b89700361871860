"""Moving a queue's backlog: jobs that have not started follow the route as it is now.

A flip changes where new dispatches go; the jobs already waiting on the other
backend (queued, scheduled with an eta, waiting for a retry) stay there unless
they are moved. Rolling back from a backend whose workers are broken is the
case this is for: its backlog would wait for the very thing being rolled back.

A move, per job: its ledger record is handed to the target backend under a
new *generation* (:meth:`taskbridge.ledger.Ledger.move`, atomic against a
worker starting the job), the job is sent to the target as it was (same job
id, arguments, correlation id, eta, attempt number) carrying that generation,
and the old message is removed. A worker of the old backend that took the old
message meanwhile finds the record's generation changed and does not run it
(``task.skipped``, reason ``moved to another backend``). So a job runs once:
either it started before the move (then it is not moved) or only the new
message can start it. A handle keeps working: it finds the job through its record.

Running jobs are never moved: they finish where they are, or are cancelled
through their handle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from . import conf, events, registry, routing
from .backends import all_backends, get_backend
from .backends.base import Backend, PendingJob
from .dispatch import _routing_key
from .errors import MoveError
from .ledger import ledger
from .message import Message
from .redis import connection

logger = logging.getLogger(__name__)

KEEP, MOVE = "keep", "move"
POLICIES = (KEEP, MOVE)
LAST_MOVE_KEY = "taskbridge:move:last:"
BATCH = 1000


@dataclass
class MoveReport:
    """What one move did (or, with ``dry_run``, would do) to a queue's backlog."""

    queue: str
    task: str | None
    to: str | None
    dry_run: bool
    at: float = field(default_factory=time.time)
    seconds: float = 0.0
    #: Jobs moved, by "source->target".
    moved: dict[str, int] = field(default_factory=dict)
    #: Jobs moved, by the state they were in (queued, scheduled, retrying).
    states: dict[str, int] = field(default_factory=dict)
    #: Waiting jobs already on the backend their route names.
    stayed: int = 0
    #: Jobs not moved, by why: started / an ending (a worker took it first), not declared here,
    #: missing (no ledger record), send failed.
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total_moved(self) -> int:
        return sum(self.moved.values())

    def describe(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        moves = ", ".join(f"{n} {path}" for path, n in sorted(self.moved.items())) or "0"
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()))
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return (
            f"{self.queue}{f' ({self.task})' if self.task else ''}: {verb} {moves}"
            + (f" [{states}]" if states else "") + f"; {self.stayed} already where routed"
            + (f"; not moved: {skipped}" if skipped else "") + f" ({self.seconds:.2f}s)"
        )


def policy(queue: str, override: str | None = None) -> str:
    """What a route change does to ``queue``'s backlog: ``override``, else the queue's
    ``backlog`` in ``TASKBRIDGE["QUEUES"]`` (default ``keep``)."""
    chosen = override if override is not None else conf.queue(queue).backlog
    if chosen not in POLICIES:
        raise MoveError(f"backlog policy must be one of {POLICIES}, got {chosen!r}")
    return chosen


def move(queue: str, *, to: str | None = None, task: str | None = None, dry_run: bool = False) -> MoveReport:
    """Move every job of ``queue`` (or of one ``task`` in it) that has not started to the
    backend its route names now, or to ``to`` (an alias). Under a percentage route each job
    goes where its routing key's bucket says. Returns what was done; also kept as the
    queue's last move (:func:`last_move`) and written as one ``task.moved`` event per job."""
    if queue not in conf.queues():
        raise MoveError(f"queue {queue!r} is not in TASKBRIDGE['QUEUES'] ({', '.join(conf.queues())})")
    if to is not None and to not in conf.backends():
        raise MoveError(f"--to {to!r} is not a configured backend ({', '.join(conf.backends())})")
    if task is not None and (registry.get(task) is None or registry.get(task).queue != queue):
        raise MoveError(f"task {task!r} is not a declared task of queue {queue!r}")
    report = MoveReport(queue, task, to, dry_run)
    started = time.monotonic()
    routing.flags.invalidate()  # the route as it is now, not as this process last read it
    for source in all_backends():
        waiting = [job for job in source.pending(queue) if task is None or job.task == task]
        by_target: dict[str, list[PendingJob]] = {}
        for job in waiting:
            target = to or _routed(job)
            if target is None:
                _count(report.skipped, "not declared here")
            elif target == source.alias:
                report.stayed += 1
            else:
                by_target.setdefault(target, []).append(job)
        for target, jobs in by_target.items():
            for start in range(0, len(jobs), BATCH):
                batch = jobs[start : start + BATCH]
                if dry_run:
                    _count(report.moved, f"{source.alias}->{target}", len(batch))
                else:
                    _move_batch(source, get_backend(target), batch, report)
    report.seconds = time.monotonic() - started
    if not dry_run:
        connection().set(LAST_MOVE_KEY + queue, json.dumps(dataclasses.asdict(report)))
    return report


def last_move(queue: str) -> dict[str, Any] | None:
    """The report of the last move of ``queue``'s backlog (as a dict), if any."""
    raw = connection().get(LAST_MOVE_KEY + queue)
    return json.loads(raw) if raw else None


def describe_last(report: dict[str, Any] | None) -> str:
    """One line on a queue's last move, for the cockpit and ``taskbridge status``."""
    if report is None:
        return "none"
    moved = ", ".join(f"{count} {path}" for path, count in sorted(report["moved"].items()))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(report["at"]))
    return f"{when} UTC, moved {moved or 'nothing'}, {sum(report['skipped'].values())} not moved"


def _routed(job: PendingJob) -> str | None:
    """The backend a dispatch of this job would go to now; ``None`` when its task is not
    declared in this process (it could not be sent anywhere from here)."""
    declared = registry.get(job.task)
    if declared is None:
        return None
    try:
        bound = declared.bind(job.args, job.kwargs).arguments
    except TypeError:
        bound = {}
    return routing.route(job.task, job.queue, _routing_key(declared, bound, job.job_id)).backend


def _count(counter: dict[str, int], key: str, n: int = 1) -> None:
    counter[key] = counter.get(key, 0) + n


def _message(job: PendingJob, generation: int, route: str) -> Message:
    due = job.meta.get("due_at")
    return Message(
        task=registry.get(job.task),
        args=job.args,
        kwargs=job.kwargs,
        job_id=job.job_id,
        fixed_id=False,
        correlation_id=job.meta.get("correlation_id") or job.job_id,
        route=route,
        enqueued_at=float(due) if due is not None and job.eta is None else time.time(),
        eta=job.eta if job.eta is None or job.eta.tzinfo else job.eta.replace(tzinfo=dt.timezone.utc),
        attempt=job.attempt,
        generation=generation,
    )


def _move_batch(source: Backend, target: Backend, jobs: list[PendingJob], report: MoveReport) -> None:
    outcomes = ledger().move([job.job_id for job in jobs], source.alias, target.alias)
    gone: list[PendingJob] = []  # their messages are now no-ops: another one runs (or ran) the job
    moving: list[tuple[PendingJob, str, Message]] = []
    for job, outcome in zip(jobs, outcomes):
        if outcome.moved:
            moving.append((job, outcome.state, _message(job, outcome.generation, f"{target.alias}:moved")))
        else:
            _count(report.skipped, outcome.state)
            if outcome.state != "missing":
                gone.append(job)
    try:
        target.send_many([message for _, _, message in moving])
    except Exception as exc:
        _send_back(source, target, moving, exc)
        _count(report.skipped, "send failed", len(moving))
        moving = []
    for job, state, message in moving:
        gone.append(job)
        _count(report.moved, f"{source.alias}->{target.alias}")
        _count(report.states, state)
        events.emit(
            events.MOVED,
            events.Subject(target.alias, job.queue, job.task, job.job_id, job.attempt, message.correlation_id),
            **{"from": source.alias}, state=state, generation=message.generation,
            eta=job.eta.isoformat() if job.eta else None,
        )
    source.remove(jobs[0].queue, gone)


def _send_back(source: Backend, target: Backend, moving: list[tuple[PendingJob, str, Message]], exc: Exception) -> None:
    """The target refused the jobs after their records moved (and enqueued none of them):
    hand the records back under a newer generation again and send the jobs to their old
    backend, so each still runs once (the messages they had there are no-ops now)."""
    logger.warning("moving %d jobs to %s failed (%s); they stay on %s", len(moving), target.alias, exc, source.alias)
    back = ledger().move([job.job_id for job, _, _ in moving], target.alias, source.alias)
    messages = [
        dataclasses.replace(message, route=f"{source.alias}:moved", generation=outcome.generation)
        for (_, _, message), outcome in zip(moving, back)
        if outcome.moved
    ]
    try:
        source.send_many(messages)
    except Exception as again:
        raise MoveError(
            f"{len(messages)} jobs could be sent neither to {target.alias} ({exc}) nor back to {source.alias} ({again}); "
            f"their records name {source.alias} with no message to run them: re-dispatch them "
            f"({', '.join(message.job_id for message in messages[:10])}{'...' if len(messages) > 10 else ''})"
        ) from again


def apply_policy(queue: str, override: str | None, task: str | None = None) -> MoveReport | None:
    """After a route change of ``queue`` (or of one ``task``): move its backlog if the
    policy (or ``override``) says so."""
    if policy(queue, override) != MOVE:
        return None
    report = move(queue, task=task)
    logger.info("backlog after route change: %s", report.describe())
    return report

