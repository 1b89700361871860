"""``analyse``: event logs in, :class:`~.report.Report` out. The one entry point tests and the CLI share."""

from __future__ import annotations

import gc
import math
from collections import Counter, defaultdict
from contextlib import contextmanager
from itertools import chain
from typing import Any, Iterator

from ..reading.collect import collect
from .jobs import find_jobs
from ..options import SPLIT_ROUTE_CHANGE, NameFilter, Options
from ..reading.reader import ParseSpec, Partial
from .report import AFTER, ALL, BEFORE, InputSummary, QueueReport, Report, RouteChangeRow, Row
from ..reading.sources import normalise
from .stats import TERMINAL_OUTCOMES, Sample, log_histogram, timeline
from .verdict import Side, decide, overall

BASELINE = "celery"
CANDIDATE = "rq"
_BACKEND_ORDER = {BASELINE: 0, CANDIDATE: 1}


def analyse(source: Any, options: Options | None = None, **loose: Any) -> Report:
    """Read event logs and compare the backends.

    ``source`` is a path (``"-"`` for standard input), an open file, a list of
    paths or files, or an iterable of lines; see
    :func:`taskbridge.compare.sources.normalise`. Options come as an
    :class:`~.options.Options` or as keywords (``queues=["podcast"]``,
    ``since="2025-01-01T00:00:00Z"``, ``horizon="2h"``,
    ``split_at="route-change"``, ``max_p95_ratio=2.0``, …).
    """
    if options is None:
        options = Options.build(**loose)
    elif loose:
        raise TypeError("pass either options= or keyword options, not both")
    inputs = normalise(source)
    since, until = options.window
    spec = ParseSpec(options.queues, options.tasks, since, until)
    with _no_cyclic_gc():
        part = collect(inputs, spec, workers=options.workers, block_size=options.block_size)
        return build_report(part, options, [source.label for source in inputs])


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Nothing here makes reference cycles, but the collector would rescan the
    growing per-job dicts over and over while a large log is merged."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _splits(part: Partial, options: Options, queues: set[str]) -> dict[str, tuple[float | None, str | None]]:
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


def _backend_key(backend: str) -> tuple[int, str]:
    return (_BACKEND_ORDER.get(backend, len(_BACKEND_ORDER)), backend)


def _period_key(period: str) -> int:
    return {BEFORE: 0, AFTER: 1, ALL: 2}[period]


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


def build_report(part: Partial, options: Options, sources: list[str]) -> Report:
    """Everything after parsing: figures, jobs, verdicts. Separate from :func:`analyse` so it can be tested on a partial."""
    since, until = options.window
    now = options.now if options.now is not None else (part.last_at if part.last_at > -math.inf else None)
    findings = find_jobs(part, now if now is not None else math.inf, options.horizon, since, until)

    queues = {key[1] for key in part.series}
    queues |= {job.queue for job in findings.stranded} | {job.queue for job in findings.duplicates} | {queue for queue, _ in findings.pending}
    splits = _splits(part, options, queues)

    group_samples: dict[tuple[str, str, str, str], Sample] = {}
    outcome_times: dict[str, dict[str, dict[int, list[Any]]]] = defaultdict(lambda: defaultdict(lambda: {kind: [] for kind in TERMINAL_OUTCOMES}))
    for (kind, queue, task, backend), (times, values, labels) in part.series.items():
        for period, lo, hi in _periods(splits[queue][0]):
            sample = group_samples.setdefault((queue, task, backend, period), Sample())
            sample.add(kind, times, values, labels, lo, hi)
        if kind in TERMINAL_OUTCOMES:
            outcome_times[queue][backend][kind].append(times)

    top = options.top_errors
    group_figures = {key: sample.figures(top) for key, sample in group_samples.items()}
    queue_samples: dict[tuple[str, str, str], Sample] = {}
    for (queue, _task, backend, period), sample in group_samples.items():
        queue_samples.setdefault((queue, backend, period), Sample()).extend(sample)  # sorted runs: the next sort merges them

    stranded_by_queue: dict[str, Counter[str]] = defaultdict(Counter)
    for job in findings.stranded:
        stranded_by_queue[job.queue][job.backend] += 1
    duplicates_by_queue = Counter(job.queue for job in findings.duplicates)
    pending_by_queue = Counter()
    for (queue, _backend), count in findings.pending.items():
        pending_by_queue[queue] += count
    changes = _route_changes(part, options)

    start = max(since, part.first_at) if part.first_at < math.inf else None
    end = min(until, part.last_at) if part.last_at > -math.inf else None
    reports = []
    for queue in sorted(queues):
        split_at, split_source = splits[queue]
        tasks = [
            Row(queue, task, backend, period, group_figures[(q, task, backend, period)])
            for (q, task, backend, period), sample in sorted(group_samples.items(), key=lambda item: (item[0][1], _backend_key(item[0][2]), _period_key(item[0][3])))
            if q == queue and any(sample.counts)
        ]
        own = {key: sample for key, sample in queue_samples.items() if key[0] == queue}
        backends = [
            Row(queue, None, backend, period, sample.figures(top))
            for (_q, backend, period), sample in sorted(own.items(), key=lambda item: (_backend_key(item[0][1]), _period_key(item[0][2])))
            if any(sample.counts)
        ]
        base_period, cand_period = (ALL, ALL) if split_at is None else (BEFORE, AFTER)
        figures = {(row.backend, row.period): row.figures for row in backends}
        note = None
        if options.split_at == SPLIT_ROUTE_CHANGE and split_at is None:
            note = "no route.changed event for this queue in the window: compared over the whole window"
        verdict = decide(
            Side(BASELINE, base_period, figures.get((BASELINE, base_period))),
            Side(CANDIDATE, cand_period, figures.get((CANDIDATE, cand_period))),
            stranded_by_queue[queue],
            duplicates_by_queue[queue],
            options.thresholds,
            options.horizon,
            note,
        )
        compared = {
            side: own[(queue, side, period)].durations if (queue, side, period) in own else []
            for side, period in ((BASELINE, base_period), (CANDIDATE, cand_period))
        }
        histogram = log_histogram(compared)
        span = None
        if start is not None and end is not None and queue in outcome_times:
            by_backend = {
                backend: {kind: chain.from_iterable(arrays) for kind, arrays in kinds.items()}
                for backend, kinds in sorted(outcome_times[queue].items(), key=lambda item: _backend_key(item[0]))
            }
            span = timeline(start, end, by_backend, options.time_buckets)
        reports.append(QueueReport(
            queue=queue,
            split_at=split_at,
            split_source=split_source,
            backends=backends,
            tasks=tasks,
            verdict=verdict,
            stranded=sum(stranded_by_queue[queue].values()),
            pending=pending_by_queue[queue],
            duplicates=duplicates_by_queue[queue],
            histogram=histogram,
            timeline=span,
            route_changes=[change for change in changes if change.queue == queue],
        ))

    summary = InputSummary(
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
    return Report(
        input=summary,
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

