"""The end of the demo: compare's verdicts per queue and per stage, the summary line, the HTML report.

Every figure here comes from ``taskbridge.compare.analyse`` over the
collected event log: once for the whole run, and once per stage (a window
from the stage's start to the next stage's start; a job belongs to the stage
it was enqueued in). The demo's own live counters are not used.

The thresholds are compare's defaults except two that suit a run of
minutes: ``min_samples`` (a verdict needs this many finished jobs a side)
and ``horizon`` (a job due longer ago than this with no outcome is
*stranded*; the demo waits for in-flight jobs first, so a healthy run has
none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

HORIZON_SECONDS = 30
MIN_SAMPLES = 5
BACKENDS = ("celery", "rq")
WORDS = {"go": "go", "hold": "HOLD", "insufficient-data": "too few"}


def _figures(queue_report: Any) -> dict[str, Any]:
    """Per-backend totals of one queue: {backend: Figures}."""
    return {row.backend: row.figures for row in queue_report.backends if row.period == "all"}


def summary_of(report: Any) -> dict[str, int]:
    """The one-line summary's figures, from compare's report of the whole run."""
    totals = {"dispatched": 0, "celery": 0, "rq": 0, "failed": 0, "cancelled": 0, "retried": 0}
    for queue in report.queues:
        for backend, figures in _figures(queue).items():
            totals["dispatched"] += figures.enqueued
            if backend in BACKENDS:
                totals[backend] += figures.succeeded + figures.failed
            totals["failed"] += figures.failed
            totals["cancelled"] += figures.cancelled
            totals["retried"] += figures.retried
    totals["stranded"] = len(report.stranded)
    totals["duplicated"] = len(report.duplicates)
    totals["pending"] = sum(report.pending.values())
    totals["without_enqueue"] = report.jobs_without_enqueue
    return totals


def cell(queue_report: Any | None) -> tuple[str, str]:
    """What a stage's window says for a queue: (text, status)."""
    if queue_report is None:
        return "-", "none"
    figures = _figures(queue_report)
    count = {backend: figures[backend].enqueued if backend in figures else 0 for backend in BACKENDS}
    if count["celery"] and count["rq"]:
        status = queue_report.verdict.status
        return f"{WORDS.get(status, status)} {count['celery']}/{count['rq']}", status
    if count["celery"]:
        return f"celery {count['celery']}", "celery"
    if count["rq"]:
        return f"rq {count['rq']}", "rq"
    return "-", "none"


def build(out: Path, log: Path, records: list[Any], run_started: str, run_ended: str, queues: list[str],
          workload: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    from taskbridge.compare import analyse
    from taskbridge.compare.rendering.html import render_html as compare_page

    limits = {"horizon": HORIZON_SECONDS, "min_samples": MIN_SAMPLES}
    whole = analyse(str(log), **limits)
    per_stage = {}
    for index, record in enumerate(records):
        until = records[index + 1].started_at if index + 1 < len(records) else None
        per_stage[record.key] = analyse(str(log), since=record.started_at, until=until, **limits)
    matrix = {}
    for queue in queues:
        row = {}
        for record in records:
            found = next((q for q in per_stage[record.key].queues if q.queue == queue), None)
            row[record.key] = cell(found)
        whole_queue = next((q for q in whole.queues if q.queue == queue), None)
        row["whole"] = (WORDS.get(whole_queue.verdict.status, whole_queue.verdict.status), whole_queue.verdict.status) \
            if whole_queue else ("-", "none")
        matrix[queue] = row
    reasons = {q.queue: q.verdict.reasons for q in whole.queues}
    result = {
        "summary": summary_of(whole),
        "verdict": whole.verdict,
        "queues": {q.queue: {"verdict": q.verdict.status, "summary": q.verdict.summary,
                             "backends": {b: f.counts() for b, f in _figures(q).items()}} for q in whole.queues},
        "matrix": {queue: {key: text for key, (text, _) in row.items()} for queue, row in matrix.items()},
        "stages": [dataclasses.asdict(record) for record in records],
        "stage_verdicts": {key: report.verdict for key, report in per_stage.items()},
        "thresholds": {**whole.options.thresholds.as_dict(), "horizon_seconds": HORIZON_SECONDS},
        "run": {"started": run_started, "ended": run_ended, **facts},
        "workload": workload,
        "files": {"report": str(out / "report.html"), "compare": str(out / "compare.html"), "events": str(log)},
    }
    (out / "compare.json").write_text(json.dumps(whole.as_dict(), indent=1, default=str))
    compare_html = compare_page(whole)
    (out / "compare.html").write_text(compare_html)
    (out / "report.html").write_text(render_html(result, records, matrix, reasons, compare_html))
    result["_matrix_status"] = {queue: {key: status for key, (_, status) in row.items()} for queue, row in matrix.items()}
    result["_reasons"] = reasons
    return result


# -- terminal ------------------------------------------------------------------------------------


def print_terminal(term: Any, result: dict[str, Any]) -> None:
    stages = result["stages"]
    matrix = result["matrix"]
    limits = result["thresholds"]
    term.write("")
    term.write(f"compare {term.dot()} verdict per queue and per stage  (RQ against Celery; a verdict needs "
               f"{limits['min_samples']} finished jobs a side, success rate at most {limits['max_success_drop_pp']:g} pp "
               f"lower, p95 run time at most {limits['max_p95_ratio']:g}x; stranded = no outcome {limits['horizon_seconds']}s after due)")
    heads = [f"{s['number']} {s['key']}" for s in stages] + ["whole run"]
    width = max(12, *(len(h) for h in heads), *(len(text) for row in matrix.values() for text in row.values()))
    qwidth = max(len(q) for q in matrix) + 2
    term.write(" " * (2 + qwidth) + "".join(h.ljust(width + 2) for h in heads).rstrip())
    for queue, row in matrix.items():
        cells = [row[s["key"]] for s in stages] + [row["whole"]]
        term.write("  " + queue.ljust(qwidth) + "".join(c.ljust(width + 2) for c in cells).rstrip())
    term.write("  (a cell: the stage's verdict with jobs on celery/rq when both ran some; otherwise where they ran)")
    broken = {stage["guard"]["queue"]: stage for stage in stages if stage.get("guard")}
    for queue, status in result["_matrix_status"].items():
        if status["whole"] == "hold":
            for reason in result["_reasons"].get(queue, []):
                term.write(f"  {queue}: {reason}")
            if queue in broken:
                stage = broken[queue]
                term.write(f"  {queue}: its failures on rq include the {stage['guard'].get('failed_on_rq', 0)} jobs the broken "
                           f"worker of stage {stage['number']} failed")
    term.write(f"report: {result['files']['report']}")


def summary_line(result: dict[str, Any], dot: str = "·") -> str:
    s = result["summary"]
    extra = f" {dot} {s['pending']} still pending" if s["pending"] else ""
    return (f"summary: {s['dispatched']} jobs dispatched {dot} {s['celery']} ran on celery {dot} {s['rq']} ran on rq "
            f"{dot} {s['failed']} failed {dot} {s['cancelled']} cancelled {dot} {s['stranded']} stranded "
            f"{dot} {s['duplicated']} duplicated{extra}")


# -- HTML ----------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0} th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
.go{background:#e3f6e8} .hold{background:#fde2e1} .insufficient-data{background:#fff6d6} .celery{background:#eef1fb} .rq{background:#f3ecfb}
.summary{font-size:1.1rem;padding:.6rem .9rem;background:#f5f5f7;border-radius:6px;display:inline-block}
.muted{color:#666} code{background:#f5f5f7;padding:0 .25rem;border-radius:3px}
iframe{width:100%;height:1400px;border:1px solid #ddd;border-radius:6px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def render_html(result: dict[str, Any], records: list[Any], matrix: dict[str, dict[str, tuple[str, str]]],
                reasons: dict[str, list[str]], compare_html: str | None) -> str:
    run = result["run"]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>taskbridge demo: Celery to RQ cutover</title>"
             f"<style>{CSS}</style></head><body>"]
    parts.append("<h1>taskbridge demo: a staged Celery &rarr; RQ cutover</h1>")
    parts.append(f"<p class=muted>{_e(run.get('started'))} &ndash; {_e(run.get('ended'))} &middot; {_e(run.get('redis', ''))}"
                 f" &middot; verdict of the whole run: <b>{_e(result['verdict'])}</b></p>")
    parts.append(f"<p class=summary>{_e(summary_line(result))}</p>")

    parts.append("<h2>Stages</h2><table><tr><th>#</th><th>stage</th><th>routes at the end</th><th class=num>jobs</th>"
                 "<th class=num>celery</th><th class=num>rq</th><th>outcomes</th><th class=num>seconds</th></tr>")
    for record in records:
        routes = ", ".join(f"{q}&rarr;{_e(r)}" for q, r in record.routes.items())
        outcomes = ", ".join(f"{n} {o}" for o, n in record.outcomes.items())
        flip = ""
        if record.workers:
            flip += f"<br><span class=muted>workers: {_e(record.workers)}</span>"
        if record.move:
            m = record.move
            ran = ", ".join(f"{n} {o}" for o, n in sorted(m.get("outcomes", {}).items())) or "none"
            flip += (f"<br><span class=muted>route back to celery with backlog=move at {m['at_seconds']:.1f}s: moved "
                     f"{m['moved_total']} waiting {_e(m['queue'])} jobs rq&rarr;celery; {m.get('ended_once_on_celery', 0)} of "
                     f"{m.get('jobs', 0)} ran on celery exactly once ({_e(ran)}), {m.get('started_on_rq', 0)} started "
                     f"on rq</span>")
        if record.guard:
            g = record.guard
            if g.get("rolled_back_at"):
                flip += (f"<br><span class=muted>the guard rolled {_e(g['queue'])} back to celery "
                         f"{g.get('seconds_to_rollback') or 0:.1f}s after its first failure on rq "
                         f"({g.get('failed_on_rq', 0)} failed there): {_e(g.get('reason', ''))}</span>")
            else:
                flip += f"<br><span class=muted>the guard did not roll {_e(g['queue'])} back</span>"
        parts.append(f"<tr><td>{record.number}</td><td>{_e(record.title)}{flip}</td><td>{routes}</td>"
                     f"<td class=num>{record.jobs}</td><td class=num>{record.backends.get('celery', 0)}</td>"
                     f"<td class=num>{record.backends.get('rq', 0)}</td><td>{_e(outcomes)}</td><td class=num>{record.seconds}</td></tr>")
    parts.append("</table><p class=muted>Stage figures here are the demo's live view; the verdicts below are compare's.</p>")

    limits = result["thresholds"]
    parts.append("<h2>Verdict per queue and per stage</h2>")
    parts.append(f"<p class=muted>RQ against Celery, by <code>taskbridge compare</code>: a verdict needs {limits['min_samples']} "
                 f"finished jobs on each side; RQ's success rate at most {limits['max_success_drop_pp']:g} pp below Celery's, "
                 f"its p95 run time at most {limits['max_p95_ratio']:g}&times;; any stranded (no outcome {limits['horizon_seconds']} s "
                 f"after due) or duplicated job is a hold. A cell names the verdict and the jobs on celery/rq when both ran "
                 f"some in that stage, else where they ran.</p>")
    parts.append("<table><tr><th>queue</th>" + "".join(f"<th>{r.number} {_e(r.key)}</th>" for r in records)
                 + "<th>whole run</th></tr>")
    for queue, row in matrix.items():
        cells = "".join(f"<td class='{_e(status)}'>{_e(text)}</td>" for key, (text, status) in row.items())
        parts.append(f"<tr><th>{_e(queue)}</th>{cells}</tr>")
    parts.append("</table><ul>")
    for queue, lines in reasons.items():
        parts.append(f"<li><b>{_e(queue)}</b>: " + "; ".join(_e(line) for line in lines) + "</li>")
    parts.append("</ul>")

    parts.append("<h2>Workload</h2><table><tr><th>action</th><th class=num>count</th></tr>")
    for name, count in sorted(result["workload"].get("actions", {}).items()):
        parts.append(f"<tr><td>{_e(name)}</td><td class=num>{count}</td></tr>")
    parts.append("</table>")
    checks = result["workload"].get("validation_results")
    if checks:
        parts.append(f"<p>Validation results read back through their handles: {_e(checks)}</p>")

    if compare_html:
        parts.append("<h2>compare: the whole run</h2><p class=muted>The same page as "
                     "<code>python manage.py taskbridge compare --html</code> over the run's event log "
                     "(also written on its own as <a href='compare.html'>compare.html</a>).</p>"
                     f"<iframe srcdoc=\"{html.escape(compare_html, quote=True)}\" title='compare report'></iframe>")
    parts.append(f"<p class=muted>Generated {_e(dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'))} by "
                 f"<code>python manage.py taskbridge demo</code>. Event log: <code>{_e(result['files']['events'])}</code>.</p>")
    parts.append("</body></html>")
    return "".join(parts)
