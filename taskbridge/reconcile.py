"""The reconciler: compares the job ledger with what each backend holds, every few seconds,
so that no job is lost silently and no dead worker goes unnoticed.

Each pass (:meth:`Reconciler.run_once`):

1. workers whose presence ran out (:mod:`taskbridge.presence`) are reaped: a
   ``worker.lost`` event, off the live lists, their locks released;
2. what dead workers held goes back to its queue (Celery's unacked messages,
   RQ's intermediate lists and started registries) once no live worker holds it
   for ``RECONCILE_GRACE`` seconds;
3. a started job whose lease ran out is failed with ``worker_lost`` (or re-run
   when its task opted in) — :func:`taskbridge.custody.lease_ran_out`;
4. a job the ledger calls queued or scheduled that its backend holds nowhere,
   in two passes ``RECONCILE_GRACE`` apart, is sent again with its own id,
   once; found missing again after that, it is failed with ``lost``;
5. dispatches left in the outbox (:mod:`taskbridge.outbox`) are sent;
6. the backend's own upkeep (RQ: scheduled jobs of queues whose scheduler died).

Several reconcilers may run; one is active at a time, by a lease in Redis.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field

import redis

from . import conf, custody, events, presence
from .backends import all_backends
from .errors import EnqueueError
from .ledger import ACTIVE_INDEX, JobRecord, ledger
from .redelivery import send_again
from .redis import connection
from .states import FINISHED, TaskStatus

logger = logging.getLogger(__name__)

LEADER_KEY = "taskbridge:reconciler"

# KEYS[1] lease; ARGV: me ms. 1 when this reconciler holds (took or renewed) the lease.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_WAITING = (TaskStatus.QUEUED, TaskStatus.SCHEDULED)


@dataclass
class Pass:
    """What one pass did (counts), for the log line and the tests."""

    reaped: list[str] = field(default_factory=list)
    handed_back: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    failed_missing: list[str] = field(default_factory=list)
    relayed: int = 0

    def __bool__(self) -> bool:
        return bool(self.reaped or self.handed_back or self.lost or self.resent or self.failed_missing or self.relayed)


class Reconciler:
    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._missing: dict[str, float] = {}

    def lead(self) -> bool:
        """Take or keep the active role (a lease of three intervals)."""
        ms = int(max(3 * float(conf.option("RECONCILE_INTERVAL")), 5) * 1000)
        return bool(connection().register_script(_LEAD)(keys=[LEADER_KEY], args=[self.name, ms]))

    def step_down(self) -> None:
        try:
            if connection().get(LEADER_KEY) == self.name.encode():
                connection().delete(LEADER_KEY)
        except redis.RedisError:
            pass

    def run_once(self) -> Pass:
        done = Pass()
        grace = float(conf.option("RECONCILE_GRACE"))
        workers = [backend for backend in all_backends() if backend.runs_in_workers]
        for backend in workers:
            alive, dead = presence.read(backend.alias)
            for name, info in dead.items():
                backend.reap(name, info)
                presence.forget(backend.alias, name)
                events.emit(events.WORKER_LOST, backend=backend.alias, worker=name, host=info.host, pid=info.pid,
                            held=sorted(info.held) or None)
                done.reaped.append(f"{backend.alias}:{name}")
            for job_id in backend.hand_back(alive, grace):
                record = ledger().get(job_id)
                if record is not None:
                    subject = events.Subject(record.backend, record.queue, record.task, job_id, max(record.attempt, 1),
                                             record.correlation_id)
                    events.emit(events.REQUEUED, subject, reason="held by a worker that died; handed back")
                done.handed_back.append(job_id)
        records = self._active()
        for record in records:
            if record.state == TaskStatus.STARTED and not ledger().lease_held(record.job_id):
                if custody.lease_ran_out(record.job_id):
                    done.lost.append(record.job_id)
        self._find_missing(records, workers, grace, done)
        done.relayed = self._relay()
        for backend in workers:
            try:
                backend.maintain()
            except redis.RedisError as exc:
                logger.warning("%s upkeep failed: %s", backend.alias, exc)
        return done

    def _active(self) -> list[JobRecord]:
        """The records of jobs not yet seen ended; ended and expired ones leave the index."""
        conn = connection()
        ids = [raw.decode() for raw in conn.zrange(ACTIVE_INDEX, 0, -1)]
        found, ended = [], []
        for job_id in ids:
            record = ledger().get(job_id)
            if record is None or record.state in FINISHED:
                ended.append(job_id)
            else:
                found.append(record)
        if ended:
            conn.zrem(ACTIVE_INDEX, *ended)
        return found

    def _find_missing(self, records: list[JobRecord], workers: list, grace: float, done: Pass) -> None:
        now = time.time()
        waiting = [r for r in records if r.state in _WAITING and r.updated is not None and now - r.updated > grace]
        if not waiting:
            self._missing.clear()
            return
        held: dict[str, set[str]] = {}
        for backend in workers:
            held[backend.alias] = backend.held_jobs()
        missing: dict[str, float] = {}
        for record in waiting:
            if record.backend not in held or record.job_id in held[record.backend]:
                continue
            first = missing[record.job_id] = self._missing.get(record.job_id, now)
            if now - first < grace / 2:
                continue  # seen missing once: look again next pass (a message in flight between two places)
            missing.pop(record.job_id)
            self._resend_or_fail(record, done)
        self._missing = missing

    def _resend_or_fail(self, record: JobRecord, done: Pass) -> None:
        marked = ledger().mark_resent(record.job_id, record.state.value, _raw(record.updated))
        if marked < 0:
            return  # it moved on meanwhile
        if marked == 0:
            error = "its backend lost it again after it was sent a second time"
            if ledger().fail(record.job_id, "lost", error, conf.option("RESULT_TTL")) == TaskStatus.FAILED:
                subject = events.Subject(record.backend, record.queue, record.task, record.job_id, max(record.attempt, 1),
                                         record.correlation_id)
                events.emit(events.FAILED, subject, error_type="lost", error=error)
                done.failed_missing.append(record.job_id)
            return
        try:
            send_again(record, "found in no queue, registry or worker of its backend")
            done.resent.append(record.job_id)
        except (EnqueueError, LookupError) as exc:
            logger.warning("could not send job %s again: %s", record.job_id, exc)
            connection().hdel(f"taskbridge:job:{record.job_id}", "resent")  # try again next pass

    def _relay(self) -> int:
        from . import outbox

        try:
            return outbox.relay_pending()
        except Exception as exc:  # the database being away must not stop the rest of the pass
            logger.warning("outbox relay failed: %s", exc)
            return 0

    def run(self, once: bool = False, stop: object = None) -> None:
        """Loop: pass every ``RECONCILE_INTERVAL`` seconds while this reconciler leads."""
        interval = float(conf.option("RECONCILE_INTERVAL"))
        try:
            while True:
                started = time.monotonic()
                try:
                    if self.lead():
                        done = self.run_once()
                        if done:
                            logger.info("reconcile: %s", done)
                except redis.RedisError as exc:
                    logger.warning("reconcile pass skipped, Redis unavailable: %s", exc)
                if once or (stop is not None and stop.is_set()):  # type: ignore[attr-defined]
                    return
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            self.step_down()


def _raw(updated: float | None) -> str:
    """The ``updated`` field as Redis holds it (the script compares strings)."""
    return "" if updated is None else repr(updated)
