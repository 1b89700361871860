"""Reading the event log the test processes and workers share."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

VOLATILE = ("timestamp", "pid", "host", "job_id", "correlation_id", "duration_ms", "wait_ms", "backend", "route", "eta")


class EventLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        return [event for event in self.all() if event.get("job_id") == job_id]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30, job_id: str | None = None) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.for_job(job_id) if job_id else self.all()
            if predicate(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for events; have: {json.dumps(found, indent=1)[-4000:]}")
            time.sleep(0.05)

    def wait_for_terminal(self, job_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        return self.wait_for(
            lambda found: any(e["event"] in ("task.succeeded", "task.failed", "task.cancelled") for e in found),
            timeout, job_id,
        )


def normalise(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in time order with ids, times, durations, pids and backend names removed."""
    ordered = sorted(events, key=lambda e: e["timestamp"])
    return [{k: v for k, v in e.items() if k not in VOLATILE} for e in ordered]
