"""The report as tables of strings, so the terminal, Markdown and HTML renderers show the same cells."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import fmt
from ..judging.report import ALL, Report, Row
from ..judging.verdict import Side
from ..times import format_duration

FIGURE_HEADERS = ["enq", "moved in", "moved out", "started", "succeeded", "failed", "retried", "cancelled", "skipped", "success", "dur p50", "dur p95", "dur p99", "wait p50", "wait p95"]


@dataclass
class Table:
    """``align`` has one ``l`` or ``r`` per column; ``note`` says what was left out."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    align: str
    note: str | None = None
    classes: list[str] = field(default_factory=list)


def _figure_cells(row: Row) -> list[str]:
    figures = row.figures
    return [
        fmt.count(figures.enqueued),
        fmt.count(figures.moved_in),
        fmt.count(figures.moved_out),
        fmt.count(figures.started),
        fmt.count(figures.succeeded),
        fmt.count(figures.failed),
        fmt.count(figures.retried),
        fmt.count(figures.cancelled),
        fmt.count(figures.skipped),
        fmt.rate(figures.success_rate),
        fmt.ms(figures.duration.p50),
        fmt.ms(figures.duration.p95),
        fmt.ms(figures.duration.p99),
        fmt.ms(figures.wait.p50),
        fmt.ms(figures.wait.p95),
    ]


def _split(report: Report) -> bool:
    return report.split_mode != "none"


def verdict_table(report: Report) -> Table:
    rows = []
    for queue in report.queues:
        verdict = queue.verdict
        compared = compared_text(verdict.baseline, verdict.candidate, queue.split_at)
        rows.append([queue.queue, verdict.status.upper(), compared, fmt.count(queue.stranded), fmt.count(queue.duplicates), fmt.count(queue.pending), "; ".join(verdict.reasons)])
    return Table("verdicts", "Verdict per queue", ["queue", "verdict", "compared", "stranded", "duplicates", "pending", "reason"], rows, "lllrrrl")


def compared_text(baseline: Side, candidate: Side, split_at: float | None = None) -> str:
    """What a verdict weighs, in the roles' words: ``candidate (rq) against baseline (celery)``."""
    if candidate.period == ALL:
        return f"candidate ({candidate.backend}) against baseline ({baseline.backend})"
    return f"candidate ({candidate.backend}) after against baseline ({baseline.backend}) before {fmt.when(split_at)}"


def _selected(report: Report, queue: str | None) -> list:
    return [q for q in report.queues if queue is None or q.queue == queue]


def backends_table(report: Report, queue: str | None = None) -> Table:
    split = _split(report)
    rows = []
    for queue_report in _selected(report, queue):
        for row in queue_report.backends:
            rows.append([row.queue, row.backend] + ([row.period] if split else []) + _figure_cells(row))
    headers = ["queue", "backend"] + (["period"] if split else []) + FIGURE_HEADERS
    return Table("backends", "Per queue and backend", headers, rows, "ll" + ("l" if split else "") + "r" * len(FIGURE_HEADERS))


def tasks_table(report: Report, queue: str | None = None) -> Table:
    split = _split(report)
    rows = []
    for queue_report in _selected(report, queue):
        for row in queue_report.tasks:
            rows.append([row.queue, row.task or "", row.backend] + ([row.period] if split else []) + _figure_cells(row))
    headers = ["queue", "task", "backend"] + (["period"] if split else []) + FIGURE_HEADERS
    return Table("tasks", "Per queue, task and backend", headers, rows, "lll" + ("l" if split else "") + "r" * len(FIGURE_HEADERS))


def errors_table(report: Report, queue: str | None = None) -> Table:
    """Error types of ``task.failed``; the causes of retries are in the JSON (``retry_errors``)."""
    split = _split(report)
    rows = []
    for queue_report in _selected(report, queue):
        for row in queue_report.tasks:
            for error_type, count in row.figures.errors:
                rows.append([row.queue, row.task or "", row.backend] + ([row.period] if split else []) + [error_type, fmt.count(count)])
    headers = ["queue", "task", "backend"] + (["period"] if split else []) + ["error type", "failed"]
    return Table("errors", f"Top error types of failed jobs (up to {report.options.top_errors} per row)", headers, rows, "lll" + ("l" if split else "") + "lr")


def stranded_table(report: Report, limit: int | None = None) -> Table:
    jobs = report.stranded if limit is None else report.stranded[:limit]
    rows = [
        [job.job_id, job.queue, job.task, job.backend, fmt.when(job.enqueued_at), format_duration(job.age), job.last_seen]
        for job in jobs
    ]
    note = None if len(jobs) == len(report.stranded) else f"... and {len(report.stranded) - len(jobs):,} more (all of them are in --json)"
    title = f"Stranded jobs: no terminal event, due over {format_duration(report.options.horizon)} before {fmt.when(report.now)}"
    return Table("stranded", title, ["job id", "queue", "task", "backend", "enqueued at", "age", "last seen"], rows, "llllrrl", note)


def duplicates_table(report: Report, limit: int | None = None) -> Table:
    jobs = report.duplicates if limit is None else report.duplicates[:limit]
    rows = [[job.job_id, job.queue, job.task, ", ".join(job.backends), fmt.count(job.successes)] for job in jobs]
    note = None if len(jobs) == len(report.duplicates) else f"... and {len(report.duplicates) - len(jobs):,} more (all of them are in --json)"
    return Table("duplicates", "Duplicates: job ids that succeeded more than once", ["job id", "queue", "task", "backends", "successes"], rows, "llllr", note)


def pending_table(report: Report) -> Table:
    rows = [[queue, backend, fmt.count(count)] for (queue, backend), count in sorted(report.pending.items())]
    title = f"Pending: no terminal event yet, due less than {format_duration(report.options.horizon)} before {fmt.when(report.now)}"
    return Table("pending", title, ["queue", "backend", "jobs"], rows, "llr")


def skips_table(report: Report) -> Table:
    split = _split(report)
    rows = []
    for queue_report in report.queues:
        for row in queue_report.tasks:
            for reason, count in row.figures.skip_reasons:
                rows.append([row.queue, row.task or "", row.backend] + ([row.period] if split else []) + [reason, fmt.count(count)])
    headers = ["queue", "task", "backend"] + (["period"] if split else []) + ["reason", "skipped"]
    return Table("skips", "Skipped dispatches by reason", headers, rows, "lll" + ("l" if split else "") + "lr")


def route_changes_table(report: Report) -> Table:
    rows = [
        [fmt.when(change.at), change.flag or "", change.queue or change.task or "", change.source or "", change.target or "", change.user or ""]
        for change in report.route_changes
    ]
    return Table("route_changes", "Route changes (route.changed)", ["at", "flag", "queue / task", "from", "to", "user"], rows, "llllll")


def _by(counter: dict, total: int) -> str:
    if not total:
        return "0"
    details = ", ".join(f"{name}: {count:,}" for name, count in sorted(counter.items(), key=lambda item: str(item[0])))
    return f"{total:,} ({details})"


def input_table(report: Report) -> Table:
    summary = report.input
    options = report.options
    rows = [
        ["sources", ", ".join(summary.sources)],
        ["lines read", fmt.count(summary.lines)],
        ["valid events", fmt.count(summary.events)],
        ["blank lines", fmt.count(summary.blank_lines)],
        ["malformed lines", _by(summary.malformed, summary.malformed_total)],
        ["unknown events", _by(summary.unknown_events, summary.unknown_total)],
        ["newer schema version", _by({f"v{version}": count for version, count in summary.newer_version.items()}, summary.newer_total)],
        ["known events not analysed", _by(summary.not_analysed, sum(summary.not_analysed.values()))],
        ["left out by --queue / --task", fmt.count(summary.filtered_out)],
        ["outside --since / --until", fmt.count(summary.outside_window)],
        ["first event", fmt.when(summary.first_at)],
        ["last event", fmt.when(summary.last_at)],
        ["now (stranded reference)", fmt.when(report.now)],
        ["horizon", format_duration(options.horizon)],
        ["jobs enqueued in window", fmt.count(report.jobs)],
        ["jobs without task.enqueued", fmt.count(report.jobs_without_enqueue)],
    ]
    if summary.malformed_examples:
        examples = "; ".join(f"{source}:{line} {reason}" for source, line, reason in summary.malformed_examples)
        rows.append(["first malformed lines", examples])
    return Table("input", "Input", ["", ""], rows, "ll")


def all_tables(report: Report, limit: int | None = 20) -> list[Table]:
    """Every table in reading order; empty optional tables are left out."""
    tables = [verdict_table(report), backends_table(report), tasks_table(report)]
    optional = [errors_table(report), skips_table(report), stranded_table(report, limit), duplicates_table(report, limit), pending_table(report), route_changes_table(report)]
    tables += [table for table in optional if table.rows]
    tables.append(input_table(report))
    return tables
