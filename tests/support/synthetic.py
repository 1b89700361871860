"""Event dicts shaped as taskbridge writes them, for judging live windows without workers."""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

from taskbridge.compare.times import format_iso


def job_events(backend: str, queue: str, ok: bool, duration_ms: float = 20.0, wait_ms: float = 5.0,
               at: float | None = None, task: str = "tests.taskapp.tasks.add") -> list[dict[str, Any]]:
    """One job's enqueued, started and succeeded (or failed) events, ending at ``at`` (default now)."""
    end = time.time() if at is None else at
    job_id = uuid.uuid4().hex
    base = {"v": 1, "queue": queue, "task": task, "backend": backend, "job_id": job_id, "attempt": 1, "correlation_id": job_id}
    start = end - duration_ms / 1000
    enqueued = start - wait_ms / 1000
    outcome = {"event": "task.succeeded", "duration_ms": duration_ms} if ok else {"event": "task.failed", "duration_ms": duration_ms, "error_type": "OperationalError", "error": "no database"}
    return [
        {**base, "event": "task.enqueued", "timestamp": format_iso(enqueued), "route": f"{backend}:flag-percent"},
        {**base, "event": "task.started", "timestamp": format_iso(start), "wait_ms": wait_ms},
        {**base, **outcome, "timestamp": format_iso(end)},
    ]


def jobs(backend: str, queue: str, count: int, ok: bool = True, durations: Iterator[float] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(count):
        out += job_events(backend, queue, ok, duration_ms=next(durations) if durations else 20.0, **kwargs)
    return out
