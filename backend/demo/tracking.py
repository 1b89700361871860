"""Following the collected event log while the demo runs: which job is where, which are done.

This is only the live view (progress bars, the routed-where line, waiting
for in-flight jobs). The figures of the final summary and the verdicts come
from ``compare``, which reads the same log afterwards.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from taskbridge import events


class EventTail:
    """New complete lines of an append-only JSON-lines file, each time :meth:`read` is called."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        found = []
        for line in lines:
            if not line.strip():
                continue
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found


@dataclass
class Job:
    job_id: str
    backend: str
    queue: str
    task: str
    stage: int
    enqueued_at: str = ""  # the event's timestamp (ISO, UTC)
    outcome: str | None = None  # succeeded / failed / cancelled
    ran_on: set[str] = field(default_factory=set)
    starts: Counter[str] = field(default_factory=Counter)  # task.started per backend
    endings: int = 0  # terminal events seen (a job that ran once has one)
    ended_at: str = ""  # the first terminal event's timestamp
    moved_from: str | None = None


class JobBook:
    """Every job seen in the log, tagged with the stage that was running when it was enqueued."""

    def __init__(self, path: Path) -> None:
        self.tail = EventTail(path)
        self.jobs: dict[str, Job] = {}
        self.stage = 0
        self.recent: list[Job] = []
        self.route_changes: list[dict] = []

    def poll(self) -> None:
        for event in self.tail.read():
            self._feed(event)

    def _feed(self, event: dict) -> None:
        name = event.get("event")
        if name == events.ROUTE_CHANGED:
            self.route_changes.append(event)
            return
        job_id = event.get("job_id")
        if not job_id or name == events.SKIPPED:
            return
        job = self.jobs.get(job_id)
        if name == events.ENQUEUED:
            if job is None:
                job = self.jobs[job_id] = Job(
                    job_id, event.get("backend", "?"), event.get("queue", "?"), event.get("task", "?"), self.stage,
                    event.get("timestamp", ""),
                )
            else:  # a worker's event arrived first
                job.backend = event.get("backend", job.backend)
                job.enqueued_at = event.get("timestamp", "")
            self.recent.append(job)
            del self.recent[:-200]
            return
        if job is None:
            job = self.jobs[job_id] = Job(
                job_id, event.get("backend", "?"), event.get("queue", "?"), event.get("task", "?"), self.stage,
            )
        if name == events.STARTED:
            job.ran_on.add(event.get("backend", "?"))
            job.starts[event.get("backend", "?")] += 1
        elif name == events.MOVED:
            job.moved_from, job.backend = event.get("from"), event.get("backend", job.backend)
        elif name in events.TERMINAL_EVENTS:
            job.endings += 1
            if job.outcome is None:
                job.outcome, job.ended_at = name.split(".", 1)[1], event.get("timestamp", "")

    # -- views ---------------------------------------------------------------

    def of_stage(self, stage: int) -> list[Job]:
        return [job for job in self.jobs.values() if job.stage == stage]

    def pending(self, stage: int | None = None) -> list[Job]:
        return [job for job in self.jobs.values() if job.outcome is None and (stage is None or job.stage == stage)]

    def counts(self, jobs: list[Job]) -> Counter[str]:
        counted: Counter[str] = Counter()
        for job in jobs:
            counted[job.backend] += 1
            if job.outcome:
                counted[job.outcome] += 1
        return counted
