"""Where each queue stands in the migration: its route, its jobs by state on each
backend, each backend's backlog (messages not started), the last backlog move, and the
workers each backend has on it. Shown by the admin cutover page
and ``manage.py taskbridge status``."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import conf, routing
from .backends import all_backends
from .custody import lease_ran_out
from .ledger import KEY_PREFIX, lease_key
from .move import last_move
from .redis import connection

STATES = ("queued", "scheduled", "started", "retrying", "succeeded", "failed", "cancelled")


@dataclass
class BackendView:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    workers: list[str] = field(default_factory=list)
    #: Messages of the queue this backend holds that no worker has started (Backend.backlog).
    backlog: int = 0


@dataclass
class QueueView:
    queue: str
    flag: str
    route: str
    backends: dict[str, BackendView]
    #: The queue's backlog policy on a route change (keep / move) and its last move's report.
    backlog_policy: str = "keep"
    last_move: dict[str, Any] | None = None


@dataclass
class Snapshot:
    queues: list[QueueView]
    jobs_scanned: int
    seconds: float


def _job_counts() -> tuple[Counter, int]:
    """Jobs by (queue, backend, state) from the ledger: active jobs plus those that
    ended within RESULT_TTL. One pass with SCAN and pipelined HMGETs. A started
    job whose lease has run out (its whole worker died) is recorded as failed
    on the way, as ``TaskHandle.status()`` would."""
    conn = connection()
    counts: Counter = Counter()
    scanned = 0
    batch: list[bytes] = []

    def flush() -> None:
        nonlocal scanned
        with conn.pipeline(transaction=False) as pipe:
            job_ids = [name.decode()[len(KEY_PREFIX):] for name in batch]
            for name, job_id in zip(batch, job_ids):
                pipe.hmget(name, "queue", "backend", "state")
                pipe.exists(lease_key(job_id))
            replies = pipe.execute()
        for job_id, (queue, backend, state), leased in zip(job_ids, replies[0::2], replies[1::2]):
            if not (queue and backend and state):
                continue
            state = state.decode()
            if state == "started" and not leased and lease_ran_out(job_id):
                state = "failed"
            counts[(queue.decode(), backend.decode(), state)] += 1
        scanned += len(batch)
        batch.clear()

    for name in conn.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
        batch.append(name)
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()
    return counts, scanned


def snapshot() -> Snapshot:
    started = time.monotonic()
    counts, scanned = _job_counts()
    backends = all_backends()
    workers = {backend.alias: backend.workers() for backend in backends}
    views = []
    for name in conf.queues():
        flag_name = conf.queue_flag_name(name)
        by_backend = {}
        for backend in backends:
            view = BackendView(
                workers=sorted(worker.label for worker in workers[backend.alias].get(name, [])), backlog=backend.backlog(name)
            )
            for state in STATES:
                view.counts[state] = counts[(name, backend.alias, state)]
            by_backend[backend.alias] = view
        views.append(QueueView(name, flag_name, routing.describe(name), by_backend, conf.queue(name).backlog, last_move(name)))
    return Snapshot(views, scanned, time.monotonic() - started)
