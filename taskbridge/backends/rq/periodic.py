"""The RQ side: rq-scheduler jobs from ``TASKBRIDGE["SCHEDULE"]`` and the scheduler that fires them.

rq-scheduler 0.14 has no serializer option: its ``Scheduler`` creates and
fetches jobs with RQ's default (binary, non-JSON) serializer, and re-schedules an
interval job at *now + interval* after each fire, so fires drift later every
period. taskbridge therefore runs rq-scheduler's own loop (lock, heartbeat,
``enqueue_jobs``) through :class:`TaskbridgeScheduler`, which

- creates and reads jobs as JSON (:class:`PeriodicJob`), like every other RQ job
  of the project, and
- re-schedules a taskbridge entry at the start of its next period (the same
  arithmetic beat and the tick use) and stamps the fire time into the job's
  meta, enqueueing and re-scheduling in one Redis transaction.

:func:`sync` makes rq-scheduler's job set match the schedule: one job per entry,
id ``taskbridge-periodic-<entry>``, calling :func:`run_tick` with the entry on
the entry task's queue. Jobs with other ids are never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from rq.exceptions import NoSuchJobError
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq_scheduler import Scheduler

from ...periodic import Entry, Timing, _iso, resolve, tick
from ...redis import connection as taskbridge_connection
from .worker import TaskbridgeJob, alias

#: The function rq-scheduler's jobs call on an RQ worker (allowed by :data:`.worker.INTERNAL`).
RQ_TICK_FUNC = "taskbridge.backends.rq.periodic.run_tick"
#: rq-scheduler job ids taskbridge owns: ``taskbridge-periodic-<entry>``.
RQ_JOB_PREFIX = "taskbridge-periodic-"

#: Job meta key: the entry's timing (written by sync) and the last fire time (by the scheduler).
META = "taskbridge_periodic"
#: A tick only claims a period and enqueues; it never needs long.
TICK_TIMEOUT = 300


class PeriodicJob(TaskbridgeJob):
    """An RQ job that is always JSON, whatever serializer the caller passes (rq-scheduler passes none)."""

    def __init__(self, id: str | None = None, connection: Any = None, serializer: Any = None) -> None:
        super().__init__(id, connection=connection, serializer=JSONSerializer)


class TaskbridgeScheduler(Scheduler):
    """rq-scheduler's Scheduler with JSON jobs and period-aligned fires for taskbridge entries.

    Accepts django-rq's ``get_scheduler`` arguments, so it can also be named in
    ``RQ["SCHEDULER_CLASS"]`` and run by ``manage.py rqscheduler``.
    """

    job_class = PeriodicJob

    def __init__(self, queue_name: str = "default", queue: Any = None, interval: float = 5, connection: Any = None,
                 job_class: Any = None, queue_class: Any = None, name: str | None = None) -> None:
        if connection is None:
            connection = taskbridge_connection()
        super().__init__(queue_name=queue_name, queue=queue, interval=interval, connection=connection,
                         job_class=PeriodicJob, queue_class=queue_class, name=name)

    def get_queue_for_job(self, job: Any) -> Queue:
        return Queue(job.origin, connection=self.connection, job_class=self.job_class, serializer=JSONSerializer)

    def enqueue_job(self, job: Any) -> None:
        spec = job.meta.get(META)
        if not spec:
            return super().enqueue_job(job)
        timing = Timing(every=spec.get("every"), cron=spec.get("cron"))
        fired_at = time.time()
        job.meta[META] = {**spec, "fired_at": fired_at}
        queue = self.get_queue_for_job(job)
        self.log.debug("taskbridge: firing %s on %s", job.id, job.origin)
        with self.connection.pipeline() as pipe:
            pipe.multi()
            queue.enqueue_job(job, pipeline=pipe)
            # Overwrites the score: the job stays scheduled even if this process dies next.
            pipe.zadd(self.scheduled_jobs_key, {job.id: timing.next_start(fired_at)})
            pipe.execute()


def rq_job_id(entry: Entry) -> str:
    return RQ_JOB_PREFIX + entry.name


def run_tick(entry: dict[str, Any]) -> dict[str, Any]:
    """What rq-scheduler's job runs on an RQ worker: one tick of ``entry`` (see ``taskbridge.periodic.tick``)."""
    from rq import get_current_job

    job = get_current_job()
    fired_at = ((job.meta or {}).get(META) or {}).get("fired_at") if job is not None else None
    return tick(Entry.from_message(entry), alias(), fired_at).as_dict()


# -- sync -------------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


def _desired(entry: Entry, queue: str) -> dict[str, Any]:
    return {
        "func": RQ_TICK_FUNC, "args": [entry.as_message()], "kwargs": {}, "origin": queue,
        "timeout": TICK_TIMEOUT, "result_ttl": -1, "timing": entry.timing.as_dict(),
    }


def _actual(job: Any) -> dict[str, Any] | None:
    try:
        spec = job.meta.get(META) or {}
        return {
            "func": job.func_name, "args": json.loads(json.dumps(list(job.args))), "kwargs": dict(job.kwargs),
            "origin": job.origin, "timeout": job.timeout, "result_ttl": job.result_ttl,
            "timing": {key: spec[key] for key in ("every", "cron") if spec.get(key) is not None},
        }
    except Exception:  # unreadable (e.g. a job stock rq-scheduler wrote with RQ's default serializer): replace it
        return None


def sync(schedule: Mapping[str, Entry], scheduler: TaskbridgeScheduler | None = None, *, dry_run: bool = False,
         now: float | None = None) -> SyncReport:
    """Make rq-scheduler's ``taskbridge-periodic-*`` jobs match ``schedule``; a no-op when they do.

    Every entry is resolved (task declared, arguments fit) before anything is
    changed. An unchanged job keeps its next fire time; a changed one keeps it
    too unless its timing changed; a new one first fires at its next period
    start.
    """
    scheduler = scheduler or TaskbridgeScheduler()
    conn = scheduler.connection
    now = time.time() if now is None else now
    queues = {name: resolve(entry).queue for name, entry in schedule.items()}
    scheduled = {
        member.decode(): score
        for member, score in conn.zrange(scheduler.scheduled_jobs_key, 0, -1, withscores=True)
        if member.decode().startswith(RQ_JOB_PREFIX)
    }
    report = SyncReport()
    for name, entry in sorted(schedule.items()):
        job_id = rq_job_id(entry)
        want = _desired(entry, queues[name])
        try:
            existing = PeriodicJob.fetch(job_id, connection=conn)
        except NoSuchJobError:
            existing = None
        have = _actual(existing) if existing is not None else None
        if have == want and job_id in scheduled:
            report.unchanged.append(name)
            continue
        keep_time = have is not None and job_id in scheduled and have["timing"] == want["timing"]
        first = scheduled[job_id] if keep_time else entry.timing.next_start(now)
        verb = "changed" if existing is not None or job_id in scheduled else "added"
        getattr(report, verb).append(name)
        report.lines.append(
            f"{verb} {name}: {entry.describe()} on queue {queues[name]!r}, next fire {_iso(first)}"
        )
        if dry_run:
            continue
        if existing is not None:
            existing.delete()
        conn.zrem(scheduler.scheduled_jobs_key, job_id)
        scheduler.schedule(
            dt.datetime.fromtimestamp(first, dt.timezone.utc), RQ_TICK_FUNC,
            args=[entry.as_message()], id=job_id, queue_name=queues[name], timeout=TICK_TIMEOUT, result_ttl=-1,
            meta={META: entry.timing.as_dict()}, description=f"taskbridge periodic tick {name}: {entry.describe()}",
        )
    wanted = {rq_job_id(entry) for entry in schedule.values()}
    for job_id in sorted(set(scheduled) - wanted):
        name = job_id[len(RQ_JOB_PREFIX):]
        report.removed.append(name)
        report.lines.append(f"removed {name}: no longer in TASKBRIDGE['SCHEDULE']")
        if dry_run:
            continue
        conn.zrem(scheduler.scheduled_jobs_key, job_id)
        try:
            PeriodicJob.fetch(job_id, connection=conn).delete()
        except NoSuchJobError:
            pass
    return report
