"""``build_report``: a :class:`~..reading.reader.Partial` in, a :class:`~.report.Report` out.

Each step below is one question asked of the partial: when is *now*, which
queues are there, where is each split, what are the figures per slice, what
became of the jobs, and what is each queue's verdict. Backends are told apart
by role: ``options.baseline`` and ``options.candidate`` name them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import chain
from typing import Any, Callable

from ..options import SPLIT_ROUTE_CHANGE, NameFilter, Options
from ..reading.reader import Partial
from .jobs import JobFindings, find_jobs
from .report import AFTER, ALL, BEFORE, InputSummary, QueueReport, Report, RouteChangeRow, Row
from .stats import TERMINAL_OUTCOMES, Figures, Sample, log_histogram, timeline
from .verdict import Side, decide, overall

Split = tuple["float | None", "str | None"]
GroupKey = tuple[str, str, str, str]  # (queue, task, backend, period)
OutcomeTimes = dict[str, dict[str, dict[int, list[Any]]]]
_PERIOD_ORDER = {BEFORE: 0, AFTER: 1, ALL: 2}


@dataclass(frozen=True)
class _Slices:
    """The figures of every (queue, task, backend, period) and every (queue, backend, period)."""

    tasks: dict[GroupKey, Sample]
    task_figures: dict[GroupKey, Figures]
    queues: dict[tuple[str, str, str], Sample]
    outcome_times: OutcomeTimes


@dataclass(frozen=True)
class _JobCounts:
    """Stranded (per backend), duplicate and pending jobs, per queue."""

    stranded: dict[str, Counter[str]]
    duplicates: Counter[str]
    pending: Counter[str]


def build_report(part: Partial, options: Options, sources: list[str]) -> Report:
    """Everything after reading: figures, jobs, verdicts. ``options`` must name both backends (see :meth:`Options.with_roles`)."""
    if options.baseline is None or options.candidate is None:
        raise ValueError("build_report needs options.baseline and options.candidate: call Options.with_roles() first")
    since, until = options.window
    now = _now(part, options)
    findings = find_jobs(part, now if now is not None else math.inf, options.horizon, since, until)
    queues = _queues(part, findings)
    splits = _splits(part, options, queues)
    slices = _slices(part, splits, options.top_errors)
    counts = _job_counts(findings)
    changes = _route_changes(part, options)
    start = max(since, part.first_at) if part.first_at < math.inf else None
    end = min(until, part.last_at) if part.last_at > -math.inf else None
    order = _backend_order(options)
    reports = [
        _queue_report(queue, splits[queue], slices, counts, changes, options, order, start, end)
        for queue in sorted(queues)
    ]
    return Report(
        input=_input_summary(part, sources),
        options=options,
        now=now,
        jobs=findings.jobs,
        jobs_without_enqueue=findings.without_enqueue,
        queues=reports,
        stranded=findings.stranded,
        pending=findings.pending,
        duplicates=findings.duplicates,
        route_changes=changes,
        verdict=overall([queue.verdict.status for queue in reports]),
    )


def _now(part: Partial, options: Options) -> float | None:
    """``--now``, else the last timestamp in the log: the log is the only clock a post-mortem has."""
    if options.now is not None:
        return options.now
    return part.last_at if part.last_at > -math.inf else None


def _queues(part: Partial, findings: JobFindings) -> set[str]:
    queues = {key[1] for key in part.series}
    queues |= {job.queue for job in findings.stranded} | {job.queue for job in findings.duplicates}
    return queues | {queue for queue, _ in findings.pending}


def _splits(part: Partial, options: Options, queues: set[str]) -> dict[str, Split]:
    """Each queue's split time and where it came from."""
    if options.split_at is None:
        return {queue: (None, None) for queue in queues}
    if options.split_at != SPLIT_ROUTE_CHANGE:
        return {queue: (float(options.split_at), "--split-at") for queue in queues}  # type: ignore[arg-type]
    since, until = options.window
    last: dict[str, float] = {}
    for at, _flag, queue, *_rest in part.route_changes:
        if queue in queues and since <= at < until and at >= last.get(queue, -math.inf):
            last[queue] = at
    return {queue: (last.get(queue), "route.changed" if queue in last else None) for queue in queues}


def _periods(split_at: float | None) -> list[tuple[str, float, float]]:
    if split_at is None:
        return [(ALL, -math.inf, math.inf)]
    return [(BEFORE, -math.inf, split_at), (AFTER, split_at, math.inf)]


def _slices(part: Partial, splits: dict[str, Split], top: int) -> _Slices:
    """Every series cut by its queue's periods, summed per task and per queue."""
    tasks: dict[GroupKey, Sample] = {}
    outcome_times: OutcomeTimes = defaultdict(lambda: defaultdict(lambda: {kind: [] for kind in TERMINAL_OUTCOMES}))
    for (kind, queue, task, backend), (times, values, labels) in part.series.items():
        for period, lo, hi in _periods(splits[queue][0]):
            tasks.setdefault((queue, task, backend, period), Sample()).add(kind, times, values, labels, lo, hi)
        if kind in TERMINAL_OUTCOMES:
            outcome_times[queue][backend][kind].append(times)
    task_figures = {key: sample.figures(top) for key, sample in tasks.items()}
    queues: dict[tuple[str, str, str], Sample] = {}
    for (queue, _task, backend, period), sample in tasks.items():
        queues.setdefault((queue, backend, period), Sample()).extend(sample)  # sorted runs: the next sort merges them
    return _Slices(tasks, task_figures, queues, outcome_times)


def _job_counts(findings: JobFindings) -> _JobCounts:
    stranded: dict[str, Counter[str]] = defaultdict(Counter)
    for job in findings.stranded:
        stranded[job.queue][job.backend] += 1
    pending: Counter[str] = Counter()
    for (queue, _backend), count in findings.pending.items():
        pending[queue] += count
    return _JobCounts(stranded, Counter(job.queue for job in findings.duplicates), pending)


def _backend_order(options: Options) -> Callable[[str], tuple[int, str]]:
    """Rows list the baseline first, then the candidate, then any other backend by name."""
    rank = {options.candidate: 1, options.baseline: 0}

    def key(backend: str) -> tuple[int, str]:
        return (rank.get(backend, 2), backend)

    return key


def _queue_report(
    queue: str, split: Split, slices: _Slices, counts: _JobCounts, changes: list[RouteChangeRow],
    options: Options, order: Callable[[str], tuple[int, str]], start: float | None, end: float | None,
) -> QueueReport:
    """One queue: its rows, its verdict (candidate against baseline) and its two charts' data."""
    split_at, split_source = split
    top = options.top_errors
    tasks = [
        Row(queue, task, backend, period, slices.task_figures[(q, task, backend, period)])
        for (q, task, backend, period), sample in sorted(slices.tasks.items(), key=lambda item: (item[0][1], order(item[0][2]), _PERIOD_ORDER[item[0][3]]))
        if q == queue and any(sample.counts)
    ]
    own = {key: sample for key, sample in slices.queues.items() if key[0] == queue}
    backends = [
        Row(queue, None, backend, period, sample.figures(top))
        for (_q, backend, period), sample in sorted(own.items(), key=lambda item: (order(item[0][1]), _PERIOD_ORDER[item[0][2]]))
        if any(sample.counts)
    ]
    base_period, cand_period = (ALL, ALL) if split_at is None else (BEFORE, AFTER)
    figures = {(row.backend, row.period): row.figures for row in backends}
    note = None
    if options.split_at == SPLIT_ROUTE_CHANGE and split_at is None:
        note = "no route.changed event for this queue in the window: compared over the whole window"
    baseline, candidate = options.baseline, options.candidate
    verdict = decide(
        Side(baseline, base_period, figures.get((baseline, base_period))),  # type: ignore[arg-type]
        Side(candidate, cand_period, figures.get((candidate, cand_period))),  # type: ignore[arg-type]
        counts.stranded[queue],
        counts.duplicates[queue],
        options.thresholds,
        options.horizon,
        note,
    )
    compared = {
        side: own[(queue, side, period)].durations if (queue, side, period) in own else []
        for side, period in ((baseline, base_period), (candidate, cand_period))
    }
    span = None
    if start is not None and end is not None and queue in slices.outcome_times:
        by_backend = {
            backend: {kind: chain.from_iterable(arrays) for kind, arrays in kinds.items()}
            for backend, kinds in sorted(slices.outcome_times[queue].items(), key=lambda item: order(item[0]))
        }
        span = timeline(start, end, by_backend, options.time_buckets)
    return QueueReport(
        queue=queue,
        split_at=split_at,
        split_source=split_source,
        backends=backends,
        tasks=tasks,
        verdict=verdict,
        stranded=sum(counts.stranded[queue].values()),
        pending=counts.pending[queue],
        duplicates=counts.duplicates[queue],
        histogram=log_histogram(compared),
        timeline=span,
        route_changes=[change for change in changes if change.queue == queue],
    )


def _route_changes(part: Partial, options: Options) -> list[RouteChangeRow]:
    since, until = options.window
    queue_ok, task_ok = NameFilter(options.queues), NameFilter(options.tasks)
    rows = []
    for change in part.route_changes:
        at, _flag, queue, task = change[:4]
        if not since <= at < until:
            continue
        if options.queues and (queue is None or not queue_ok(queue)):
            continue
        if options.tasks and task is not None and not task_ok(task):
            continue
        rows.append(RouteChangeRow.of(change))
    rows.sort(key=lambda row: (row.at, row.flag or ""))
    return rows


def _input_summary(part: Partial, sources: list[str]) -> InputSummary:
    return InputSummary(
        sources=sources,
        lines=part.lines,
        blank_lines=part.blank,
        events=part.events,
        malformed=part.malformed,
        malformed_examples=part.examples,
        unknown_events=part.unknown,
        newer_version=part.newer,
        not_analysed=part.not_analysed,
        filtered_out=part.filtered_out,
        outside_window=part.outside_window,
        first_at=part.first_at if part.first_at < math.inf else None,
        last_at=part.last_at if part.last_at > -math.inf else None,
    )
