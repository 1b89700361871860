"""Event logs with known content for the compare tests, written the way taskbridge.events writes them."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from taskbridge.events import (
    CANCELLED,
    ENQUEUED,
    FAILED,
    MOVED,
    RETRYING,
    ROUTE_CHANGED,
    SCHEMA_VERSION,
    SKIPPED,
    STARTED,
    SUCCEEDED,
)

BASE = dt.datetime(2025, 1, 6, 12, 0, tzinfo=dt.timezone.utc)


def stamp(seconds: float) -> str:
    """BASE + seconds in the writer's format."""
    return (BASE + dt.timedelta(seconds=seconds)).isoformat(timespec="microseconds").replace("+00:00", "Z")


def epoch(seconds: float) -> float:
    return (BASE + dt.timedelta(seconds=seconds)).timestamp()


class Log:
    """Collects event lines; ``shuffled()`` gives them out of order, as many processes would."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def event(self, name: str, at: float, v: int = SCHEMA_VERSION, **fields: Any) -> None:
        line = {**fields, "event": name, "v": v, "timestamp": stamp(at), "pid": 4242, "host": "test"}
        self.lines.append(json.dumps({key: value for key, value in line.items() if value is not None}))

    def task(self, name: str, at: float, job_id: str, queue: str, task: str, backend: str, attempt: int = 1, **fields: Any) -> None:
        self.event(name, at, backend=backend, queue=queue, task=task, job_id=job_id, attempt=attempt, correlation_id="c-" + job_id, **fields)

    def enqueue(self, at: float, job_id: str, queue: str, task: str, backend: str, **fields: Any) -> None:
        self.task(ENQUEUED, at, job_id, queue, task, backend, route=f"{backend}:flag-everyone", **fields)

    def move(self, at: float, job_id: str, queue: str, task: str, source: str, target: str, generation: int = 1, state: str = "queued", **fields: Any) -> None:
        """``task.moved`` as ``taskbridge.move`` writes it: ``backend`` is where the job goes, ``from`` where it was."""
        self.task(MOVED, at, job_id, queue, task, target, state=state, generation=generation, **{"from": source}, **fields)

    def run(self, at: float, job_id: str, queue: str, task: str, backend: str, wait_ms: float, duration_ms: float, attempt: int = 1) -> float:
        """Started at ``at``, succeeded ``duration_ms`` later; returns the end time."""
        self.task(STARTED, at, job_id, queue, task, backend, attempt=attempt, wait_ms=wait_ms)
        end = at + duration_ms / 1000
        self.task(SUCCEEDED, end, job_id, queue, task, backend, attempt=attempt, duration_ms=duration_ms)
        return end

    def ok(self, at: float, job_id: str, queue: str, task: str, backend: str, wait_ms: float, duration_ms: float) -> None:
        """A whole successful job: enqueued at ``at``, started after ``wait_ms``."""
        self.enqueue(at, job_id, queue, task, backend)
        self.run(at + wait_ms / 1000, job_id, queue, task, backend, wait_ms, duration_ms)

    def raw(self, line: str) -> None:
        self.lines.append(line)

    def shuffled(self, seed: int = 7) -> list[str]:
        lines = list(self.lines)
        random.Random(seed).shuffle(lines)
        return lines

    def text(self, seed: int | None = 7) -> str:
        return "\n".join(self.lines if seed is None else self.shuffled(seed)) + "\n"


PODCAST = "podcast"
REPORTS = "reports"
NOTEBOOKS = "notebooks"
GENERATE = "podcast.tasks.generate_podcast_task"
REPORT = "reports.tasks.generate_report_task"
INGEST = "notebooks.tasks.process_url_task"

NOW = 3700.0  # seconds after BASE; with the default 1h horizon, jobs due before 100 s are stranded


def known_log() -> Log:
    """The log the figure tests assert on; every number is worked out in test_compare_figures.py."""
    log = Log()
    # podcast on celery
    log.ok(0, "c1", PODCAST, GENERATE, "celery", wait_ms=1000, duration_ms=1000)
    log.ok(10, "c2", PODCAST, GENERATE, "celery", wait_ms=500, duration_ms=2000)
    log.enqueue(20, "c3", PODCAST, GENERATE, "celery")
    log.task(STARTED, 20.2, "c3", PODCAST, GENERATE, "celery", wait_ms=200)
    log.task(RETRYING, 20.7, "c3", PODCAST, GENERATE, "celery", countdown=5, error_type="TimeoutError", error="slow", duration_ms=500)
    log.run(25.8, "c3", PODCAST, GENERATE, "celery", wait_ms=100, duration_ms=3000, attempt=2)
    log.enqueue(30, "c4", PODCAST, GENERATE, "celery")
    log.task(STARTED, 30.1, "c4", PODCAST, GENERATE, "celery", wait_ms=100)
    log.task(FAILED, 30.5, "c4", PODCAST, GENERATE, "celery", duration_ms=400, error_type="ValueError", error="bad input")
    log.enqueue(40, "c5", PODCAST, GENERATE, "celery")
    log.task(CANCELLED, 41, "c5", PODCAST, GENERATE, "celery", phase="queued")
    log.enqueue(0, "c6", PODCAST, GENERATE, "celery", eta=stamp(3000), countdown=3000)  # delayed: due 700 s before now, pending
    log.enqueue(50, "c7", PODCAST, GENERATE, "celery")
    log.task(STARTED, 50.5, "c7", PODCAST, GENERATE, "celery", wait_ms=500)  # its worker died: stranded, last seen started
    # podcast on rq
    log.ok(0, "r1", PODCAST, GENERATE, "rq", wait_ms=300, duration_ms=4000)
    log.task(SKIPPED, 0.5, "r1", PODCAST, GENERATE, "rq", reason="duplicate job id")
    log.ok(5, "r2", PODCAST, GENERATE, "rq", wait_ms=400, duration_ms=5000)
    for job_id, at in (("r3", 6), ("r4", 7)):
        log.enqueue(at, job_id, PODCAST, GENERATE, "rq")
        log.task(STARTED, at + 0.1, job_id, PODCAST, GENERATE, "rq", wait_ms=100)
        log.task(FAILED, at + 0.2, job_id, PODCAST, GENERATE, "rq", duration_ms=100, error_type="KeyError", error="'x'")
    log.enqueue(8, "r5", PODCAST, GENERATE, "rq")  # never started: stranded, last seen queued
    log.ok(9, "r6", PODCAST, GENERATE, "rq", wait_ms=100, duration_ms=500)
    log.task(SUCCEEDED, 9.7, "r6", PODCAST, GENERATE, "rq", duration_ms=500)  # ran twice: duplicate
    log.enqueue(200, "r7", PODCAST, GENERATE, "rq")  # 3500 s old at NOW: pending
    log.task(SKIPPED, 50, "tick-1", PODCAST, GENERATE, "rq", reason="periodic tick owned by celery")  # never enqueued: not stranded
    # reports: clean on both backends
    for index, duration in enumerate((100, 110, 120, 130)):
        log.ok(60 + index, f"rc{index}", REPORTS, REPORT, "celery", wait_ms=10, duration_ms=duration)
    for index, duration in enumerate((100, 120, 140, 160)):
        log.ok(70 + index, f"rr{index}", REPORTS, REPORT, "rq", wait_ms=20, duration_ms=duration)
    # notebooks: celery only
    log.ok(80, "n1", NOTEBOOKS, INGEST, "celery", wait_ms=5, duration_ms=50)
    log.ok(81, "n2", NOTEBOOKS, INGEST, "celery", wait_ms=5, duration_ms=60)
    log.run(82, "n3", NOTEBOOKS, INGEST, "celery", wait_ms=5, duration_ms=70)  # its enqueue is not in the log
    # what a reader must count and report, not choke on
    log.raw("not json at all")
    log.raw('{"event": "task.succeeded", "v": 1, "timestamp": "2025-01-06T12:0')
    log.raw("[1, 2]")
    log.raw(json.dumps({"event": SUCCEEDED, "v": 1, "timestamp": stamp(1), "queue": PODCAST, "task": GENERATE, "backend": "rq"}))
    log.raw(json.dumps({"event": STARTED, "v": 1, "timestamp": "yesterday", "queue": PODCAST, "task": GENERATE, "backend": "rq", "job_id": "r1"}))
    log.raw(json.dumps({"v": 1, "timestamp": stamp(1)}))
    log.raw("")
    log.event("task.teleported", 2, job_id="x")
    log.event(SUCCEEDED, 3, v=SCHEMA_VERSION + 1, queue=PODCAST, task=GENERATE, backend="rq", job_id="r1", duration_ms=1)
    return log


MALFORMED = {
    "invalid JSON": 2,
    "not a JSON object": 1,
    "missing job_id": 1,
    "invalid timestamp": 1,
    "missing event": 1,
}


def split_log() -> Log:
    """podcast moves from celery to rq at t=100 (route.changed); reports has no route change."""
    log = Log()
    for index in range(5):
        log.ok(10 + index, f"cb{index}", PODCAST, GENERATE, "celery", wait_ms=10, duration_ms=100 * (index + 1))
    log.event(ROUTE_CHANGED, 100, flag="taskbridge.queue.podcast", queue=PODCAST, **{"from": "celery", "to": "rq"}, user="ops")
    for index in range(5):
        log.ok(110 + index, f"ra{index}", PODCAST, GENERATE, "rq", wait_ms=30, duration_ms=100 * (index + 2))
    log.ok(120, "ca0", PODCAST, GENERATE, "celery", wait_ms=10, duration_ms=50)  # a late celery job after the change
    for index in range(5):
        log.ok(10 + index, f"rpc{index}", REPORTS, REPORT, "celery", wait_ms=10, duration_ms=100)
        log.ok(10 + index, f"rpr{index}", REPORTS, REPORT, "rq", wait_ms=10, duration_ms=100)
    return log
