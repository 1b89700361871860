"""Where each queue stands in the migration: its route and last change, its jobs by state
on each backend, its backlog and throughput, and the workers each backend has on it.
Shown by the cutover cockpit (through :mod:`taskbridge.live`) and ``manage.py taskbridge status``.

The figures come from one scan of the ledger (the job records in Redis), so the
dispatch path pays nothing for them: throughput is read from the ``ended`` time
of the records that ended in the last :data:`MINUTES` minutes (records stay for
``RESULT_TTL``). Per-queue and per-backend data are dataclasses so that later
figures (backlog moves, the guard's verdict) are added as fields.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from . import conf, routing
from .backends import all_backends
from .backends.base import WorkerInfo
from .custody import lease_ran_out
from .ledger import KEY_PREFIX, lease_key
from .move import describe_last, last_move
from .redis import connection

STATES = ("queued", "scheduled", "started", "retrying", "succeeded", "failed", "cancelled")
#: States of jobs that have not started: the backlog (what a backlog move takes along).
BACKLOG_STATES = ("queued", "scheduled", "retrying")
#: Of those, the jobs due and waiting for a worker: the oldest one's age is shown.
WAITING_STATES = ("queued", "retrying")
#: How many whole minutes of throughput each backend shows, oldest first.
MINUTES = 10


@dataclass
class Worker:
    """A live worker as the cockpit names it (``label``): ``host:pid``, or the backend's own
    name where it reports no pid (Celery's ``name@host``); the queues it consumes; and the
    backend's name for it (RQ's default is a 32-character hex id, shown only on hover)."""

    label: str
    host: str
    pid: int | None
    queues: list[str]
    name: str

    @classmethod
    def of(cls, info: WorkerInfo) -> Worker:
        return cls(info.label if info.pid else info.name, info.host, info.pid, sorted(info.queues), info.name)


@dataclass
class BackendView:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    backlog: int = 0
    #: Seconds the oldest queued job has waited, ``None`` without one.
    oldest_seconds: float | None = None
    #: Jobs that ended (succeeded or failed), and failed, per minute over the last :data:`MINUTES`, oldest first.
    done_per_minute: list[int] = field(default_factory=lambda: [0] * MINUTES)
    failed_per_minute: list[int] = field(default_factory=lambda: [0] * MINUTES)
    workers: list[Worker] = field(default_factory=list)


@dataclass
class LastChange:
    when: str
    who: str | None
    origin: str
    reason: str
    forced: bool
    from_route: str
    to_route: str


@dataclass
class RampView:
    """A queue's ramp plan and where it stands: ``step`` counts from 1, ``share`` is that step's."""

    state: str
    steps: list[float]
    step: int
    share: float
    hold_seconds: float
    hold_jobs: int
    step_started_at: str
    reason: str


@dataclass
class GuardView:
    """What the live guard says of one queue. ``running`` is false when no guard published a
    look in the last few intervals: then there is no verdict, and the ramp (read from the
    database) stands still until a guard runs."""

    running: bool
    #: compare's verdict on the live window (``go``, ``hold``, ``insufficient-data``…), ``None`` without a guard.
    verdict: str | None = None
    regression: bool = False
    reasons: list[str] = field(default_factory=list)
    #: backend alias -> the window's figures (finished, succeeded, failed, success_rate, run_p95_ms…).
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    ramp: RampView | None = None

    @classmethod
    def of(cls, running: bool, queue: dict[str, Any]) -> GuardView:
        """From one queue of :func:`taskbridge.guard.state.snapshot`."""
        ramp = queue.get("ramp")
        return cls(
            running, queue.get("verdict") if running else None, bool(running and queue.get("regression")),
            list(queue.get("reasons", [])) if running else [], dict(queue.get("figures", {})) if running else {},
            RampView(**{item.name: ramp[item.name] for item in fields(RampView)}) if ramp else None,
        )


@dataclass
class QueueView:
    queue: str
    flag: str
    route: str
    #: The candidate's share of new dispatches, percent.
    share: float
    backends: dict[str, BackendView]
    last_change: LastChange | None = None
    #: The queue's backlog policy on a route change (keep / move) and its last move's report.
    backlog_policy: str = "keep"
    last_move: dict[str, Any] | None = None
    #: The guard's verdict and the ramp (``None`` where the guard's state was not asked for).
    guard: GuardView | None = None

    @property
    def last_move_text(self) -> str:
        return describe_last(self.last_move)


@dataclass
class Snapshot:
    queues: list[QueueView]
    jobs_scanned: int
    seconds: float


@dataclass
class Figures:
    """What the ledger scan and the workers' presence say, as of ``at`` (epoch seconds)."""

    at: float
    jobs_scanned: int
    seconds: float
    #: queue -> backend alias -> view (without route data).
    backends: dict[str, dict[str, BackendView]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figures:
        views = {
            queue: {alias: BackendView(**{**view, "workers": [Worker(**w) for w in view["workers"]]}) for alias, view in by.items()}
            for queue, by in data["backends"].items()
        }
        return cls(data["at"], data["jobs_scanned"], data["seconds"], views)


def _number(value: bytes | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _scan(now: float) -> tuple[dict[tuple[str, str], BackendView], int]:
    """One pass over the ledger with SCAN and pipelined HMGETs: jobs by state, backlog and its
    oldest job, and per-minute endings, per (queue, backend). A started job whose lease has
    run out (its whole worker died) counts as failed, as ``TaskHandle.status()`` would say."""
    conn = connection()
    views: dict[tuple[str, str], BackendView] = defaultdict(BackendView)
    oldest: dict[tuple[str, str], float] = {}
    first_minute = int(now // 60) - MINUTES + 1
    scanned = 0
    batch: list[bytes] = []

    def flush() -> None:
        nonlocal scanned
        with conn.pipeline(transaction=False) as pipe:
            job_ids = [name.decode()[len(KEY_PREFIX):] for name in batch]
            for name, job_id in zip(batch, job_ids):
                pipe.hmget(name, "queue", "backend", "state", "updated", "ended")
                pipe.exists(lease_key(job_id))
            replies = pipe.execute()
        for job_id, (queue, backend, state, updated, ended), leased in zip(job_ids, replies[0::2], replies[1::2]):
            if not (queue and backend and state):
                continue
            state = state.decode()
            if state == "started" and not leased and lease_ran_out(job_id):
                state, ended = "failed", None
            where = (queue.decode(), backend.decode())
            view = views[where]
            view.counts[state] = view.counts.get(state, 0) + 1
            if state in BACKLOG_STATES:
                view.backlog += 1
            if state in WAITING_STATES:
                since = _number(updated)
                if since is not None and since < oldest.get(where, now):
                    oldest[where] = since
            minute = int(t // 60) - first_minute if (t := _number(ended)) is not None else -1
            if state in ("succeeded", "failed") and 0 <= minute < MINUTES:
                view.done_per_minute[minute] += 1
                if state == "failed":
                    view.failed_per_minute[minute] += 1
        scanned += len(batch)
        batch.clear()

    for name in conn.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
        batch.append(name)
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()
    for where, since in oldest.items():
        views[where].oldest_seconds = round(now - since, 1)
    return views, scanned


def figures() -> Figures:
    """Scan the ledger and ask every backend for its live workers (Celery's answer is a
    broadcast of up to a second: the cockpit calls this off its request path)."""
    started = time.monotonic()
    now = time.time()
    scanned_views, scanned = _scan(now)
    presence = {backend.alias: backend.workers() for backend in all_backends()}
    views: dict[str, dict[str, BackendView]] = {}
    for queue in conf.queues():
        views[queue] = {}
        for alias, by_queue in presence.items():
            view = scanned_views.get((queue, alias)) or BackendView()
            view.workers = sorted((Worker.of(info) for info in by_queue.get(queue, [])), key=lambda w: w.label)
            views[queue][alias] = view
    return Figures(now, scanned, time.monotonic() - started, views)


def route_of(queue: str) -> tuple[str, str, float]:
    """A queue's flag name, its route in the configured names, and the candidate's share."""
    flag_name = conf.queue_flag_name(queue)
    flag = routing.flags.get(flag_name)
    route = flag.describe() if flag else "default"
    if route == "default":
        route = f"default ({conf.baseline()})"
    share = flag.share if flag is not None and flag.share is not None else 0.0
    return flag_name, route, share


def assemble(
    found: Figures | None, last_changes: dict[str, LastChange] | None = None, guard: dict[str, Any] | None = None,
) -> list[QueueView]:
    """Each configured queue's view: its route now, plus ``found`` figures when there are some
    and the guard's word from ``guard`` (:func:`taskbridge.guard.state.snapshot`) when given."""
    views = []
    running = bool(guard and guard["guard"]["active"])
    for queue in conf.queues():
        flag_name, route, share = route_of(queue)
        backends = found.backends.get(queue, {}) if found else {}
        judged = GuardView.of(running, guard["queues"].get(queue, {})) if guard else None
        views.append(QueueView(
            queue, flag_name, route, share, backends, (last_changes or {}).get(queue), conf.queue(queue).backlog, last_move(queue),
            judged,
        ))
    return views


def snapshot() -> Snapshot:
    """Everything, now, in this process (``manage.py taskbridge status``)."""
    found = figures()
    return Snapshot(assemble(found), found.jobs_scanned, found.seconds)
