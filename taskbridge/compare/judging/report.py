"""The result of ``compare``: plain dataclasses every renderer reads, and their JSON form.

``Report.as_dict()`` is the documented, stable JSON (``docs/compare.md``):
keys are only ever added within a ``version``; removing or changing the
meaning of one bumps :data:`REPORT_VERSION`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from taskbridge.events import SCHEMA_VERSION

from .jobs import DuplicateJob, StrandedJob
from ..options import Options
from ..reading.reader import RouteChange
from .stats import Figures, Histogram, Timeline
from ..times import format_iso
from .verdict import Verdict

REPORT_SCHEMA = "taskbridge.compare.report"
REPORT_VERSION = 2  # 2: moved_in / moved_out figures; a moved job's stranded / pending backend is the one it moved to

ALL = "all"
BEFORE = "before"
AFTER = "after"


@dataclass(frozen=True)
class InputSummary:
    """What was read, and everything that was not used and why."""

    sources: list[str]
    lines: int
    blank_lines: int
    events: int
    malformed: Counter[str]
    malformed_examples: list[tuple[str, int, str]]
    unknown_events: Counter[str]
    newer_version: Counter[int]
    not_analysed: Counter[str]
    filtered_out: int
    outside_window: int
    first_at: float | None
    last_at: float | None

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def unknown_total(self) -> int:
        return sum(self.unknown_events.values())

    @property
    def newer_total(self) -> int:
        return sum(self.newer_version.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "sources": self.sources,
            "lines": self.lines,
            "blank_lines": self.blank_lines,
            "events": self.events,
            "malformed": {
                "total": self.malformed_total,
                "by_reason": dict(sorted(self.malformed.items())),
                "examples": [{"source": source, "line": line, "reason": reason} for source, line, reason in self.malformed_examples],
            },
            "unknown_events": {"total": self.unknown_total, "by_name": dict(sorted(self.unknown_events.items()))},
            "newer_version": {"total": self.newer_total, "by_version": {str(version): count for version, count in sorted(self.newer_version.items())}},
            "not_analysed": {"total": sum(self.not_analysed.values()), "by_name": dict(sorted(self.not_analysed.items()))},
            "filtered_out": self.filtered_out,
            "outside_window": self.outside_window,
            "first_timestamp": format_iso(self.first_at),
            "last_timestamp": format_iso(self.last_at),
        }


@dataclass(frozen=True)
class Row:
    """Figures of one (queue, task, backend, period); ``task`` is ``None`` on a queue's per-backend totals."""

    queue: str
    task: str | None
    backend: str
    period: str
    figures: Figures

    def as_dict(self) -> dict[str, object]:
        head: dict[str, object] = {"queue": self.queue}
        if self.task is not None:
            head["task"] = self.task
        head.update(backend=self.backend, period=self.period)
        return {**head, **self.figures.as_dict()}


@dataclass(frozen=True)
class RouteChangeRow:
    at: float
    flag: str | None
    queue: str | None
    task: str | None
    source: str | None
    target: str | None
    user: str | None

    @classmethod
    def of(cls, change: RouteChange) -> RouteChangeRow:
        return cls(*change)

    def as_dict(self) -> dict[str, object]:
        return {"at": format_iso(self.at), "flag": self.flag, "queue": self.queue, "task": self.task, "from": self.source, "to": self.target, "user": self.user}


@dataclass(frozen=True)
class QueueReport:
    queue: str
    split_at: float | None
    split_source: str | None
    backends: list[Row]
    tasks: list[Row]
    verdict: Verdict
    stranded: int
    pending: int
    duplicates: int
    histogram: Histogram | None
    timeline: Timeline | None
    route_changes: list[RouteChangeRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "verdict": self.verdict.as_dict(),
            "split": {"at": format_iso(self.split_at), "source": self.split_source},
            "backends": [row.as_dict() for row in self.backends],
            "tasks": [row.as_dict() for row in self.tasks],
            "stranded": self.stranded,
            "pending": self.pending,
            "duplicates": self.duplicates,
            "latency_histogram": None if self.histogram is None else self.histogram.as_dict(),
            "outcomes_over_time": None if self.timeline is None else {
                "start": format_iso(self.timeline.start),
                "bucket_seconds": self.timeline.bucket_seconds,
                "buckets": self.timeline.buckets,
                "series": self.timeline.series,
            },
            "route_changes": [change.as_dict() for change in self.route_changes],
        }


@dataclass(frozen=True)
class Report:
    """Everything ``compare`` found; see ``docs/compare.md`` for each figure."""

    input: InputSummary
    options: Options
    now: float | None
    jobs: int
    jobs_without_enqueue: int
    queues: list[QueueReport]
    stranded: list[StrandedJob]
    pending: Counter[tuple[str, str]]
    duplicates: list[DuplicateJob]
    route_changes: list[RouteChangeRow]
    verdict: str

    @property
    def split_mode(self) -> str:
        split = self.options.split_at
        return "none" if split is None else ("route-change" if isinstance(split, str) else "time")

    def queue(self, name: str) -> QueueReport:
        return next(queue for queue in self.queues if queue.queue == name)

    def options_dict(self) -> dict[str, object]:
        options = self.options
        return {
            "queues": list(options.queues),
            "tasks": list(options.tasks),
            "since": format_iso(options.since),
            "until": format_iso(options.until),
            "now": format_iso(self.now),
            "horizon_seconds": options.horizon,
            "split": {"mode": self.split_mode, "at": None if self.split_mode != "time" else format_iso(options.split_at)},  # type: ignore[arg-type]
            "thresholds": options.thresholds.as_dict(),
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "schema": REPORT_SCHEMA,
            "version": REPORT_VERSION,
            "event_schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "input": self.input.as_dict(),
            "options": self.options_dict(),
            "jobs": {"total": self.jobs, "without_enqueue": self.jobs_without_enqueue},
            "queues": [queue.as_dict() for queue in self.queues],
            "stranded": [job.as_dict() for job in self.stranded],
            "pending": {
                "total": sum(self.pending.values()),
                "by_queue": [{"queue": queue, "backend": backend, "count": count} for (queue, backend), count in sorted(self.pending.items())],
            },
            "duplicates": [job.as_dict() for job in self.duplicates],
            "route_changes": [change.as_dict() for change in self.route_changes],
        }
