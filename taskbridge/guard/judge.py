"""One queue's live verdict: its recent events through ``compare``'s own verdict code.

The window fed to :func:`taskbridge.compare.judge_events` holds the baseline's
events of ``baseline_window`` and the candidate's since the later of
``window`` ago and the queue's last route change: a rollback, a new canary or
a ramp step starts the candidate's evidence afresh, while the baseline's
reference stays long enough to exist when the queue is wholly on the
candidate. Only failures that point at the candidate make a regression: the
rate and p95 checks are directional by construction, and a stranded or
duplicate job counts only when it is the candidate's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import conf, events
from ..compare import judge_events
from ..compare.judging.report import QueueReport, Report
from ..compare.judging.verdict import FAIL
from .config import GuardConfig

DIRECTIONAL = ("success_rate", "p95_duration", "p95_wait")
FINISHED = (events.SUCCEEDED, events.FAILED)


@dataclass(frozen=True)
class QueueJudgement:
    """What the guard concluded about one queue, JSON-able for the cockpit and /metrics."""

    queue: str
    status: str
    regression: bool
    reasons: list[str]
    figures: dict[str, dict[str, Any]]
    candidate_since: float
    candidate_finished: int
    checks: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue, "status": self.status, "regression": self.regression, "reasons": self.reasons,
            "figures": self.figures, "candidate_since": self.candidate_since, "candidate_finished": self.candidate_finished,
            "checks": self.checks,
        }


def horizon(queue: str) -> float:
    """How long a job may go without a terminal event before it counts as stranded: its queue's
    timeout, the hard-limit grace, and a lease for custody to record a lost worker."""
    return conf.queue(queue).timeout + conf.option("HARD_TIMEOUT_GRACE") + conf.option("LEASE_SECONDS")


def judge_queue(queue: str, window: list[tuple[float, dict[str, Any]]], now: float, config: GuardConfig, candidate_since: float) -> QueueJudgement:
    """The verdict on ``queue`` from the (time, event) pairs of the live window."""
    baseline, candidate = conf.baseline(), conf.candidate()
    since = max(now - config.window, candidate_since)
    chosen = [
        event for at, event in window
        if event.get("queue") == queue and (event.get("backend") != candidate or at >= since)
    ]
    report = judge_events(
        chosen, source=f"live:{queue}", baseline=baseline, candidate=candidate, queues=[queue],
        now=now, horizon=horizon(queue), thresholds=config.thresholds(),
    )
    own = next((item for item in report.queues if item.queue == queue), None)
    finished = sum(1 for at, event in window if at >= since and event.get("queue") == queue and event.get("backend") == candidate and event.get("event") in FINISHED)
    if own is None:
        return QueueJudgement(queue, "insufficient-data", False, ["no events in the window"], {}, since, finished)
    failures = _regressions(own, report, candidate)
    return QueueJudgement(
        queue=queue,
        status=own.verdict.status,
        regression=bool(failures),
        reasons=failures or own.verdict.reasons,
        figures={row.backend: _figures(row.figures) for row in own.backends},
        candidate_since=since,
        candidate_finished=finished,
        checks=[check.as_dict() for check in own.verdict.checks],
    )


def _regressions(own: QueueReport, report: Report, candidate: str) -> list[str]:
    reasons = [check.text for check in own.verdict.checks if check.status == FAIL and check.name in DIRECTIONAL]
    stranded = [job for job in report.stranded if job.queue == own.queue and job.backend == candidate]
    if stranded:
        reasons.append(f"{len(stranded)} job(s) stranded on {candidate} (no terminal event {horizon(own.queue):.0f}s after due)")
    duplicates = [job for job in report.duplicates if job.queue == own.queue and candidate in job.backends]
    if duplicates:
        reasons.append(f"{len(duplicates)} job id(s) succeeded more than once, on {candidate}")
    return reasons


def _figures(figures: Any) -> dict[str, Any]:
    """The live figures the cockpit shows per backend: outcomes, rate, run-time and wait percentiles."""
    def clean(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else round(value, 3)

    return {
        "finished": figures.finished, "succeeded": figures.succeeded, "failed": figures.failed,
        "retried": figures.retried, "lost": dict(figures.errors).get("worker_lost", 0), "success_rate": clean(figures.success_rate),
        "run_p50_ms": clean(figures.duration.p50), "run_p95_ms": clean(figures.duration.p95), "wait_p95_ms": clean(figures.wait.p95),
    }
