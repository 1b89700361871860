"""The report as one self-contained HTML page (inline CSS and SVG, no script, no external file).

Made to be attached to a change ticket: a section per queue with its
verdict, the checks behind it, two charts (run-time distributions of the two
backends side by side, finished jobs over time) and its tables, then the
stranded and duplicate jobs and what was read.
"""

from __future__ import annotations

from html import escape

from .. import fmt
from .text import headline
from ..judging.report import Report
from .svg import latency_chart, outcomes_chart
from .tables import (
    Table,
    backends_table,
    duplicates_table,
    errors_table,
    input_table,
    pending_table,
    route_changes_table,
    skips_table,
    stranded_table,
    tasks_table,
    verdict_table,
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529; margin: 24px auto; max-width: 1280px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta { color: #495057; margin: 0 0 16px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 4px; font-size: 13px; font-weight: 600; color: #fff; vertical-align: middle; }
.badge.go { background: #2f9e44; } .badge.hold { background: #e03131; } .badge.insufficient-data { background: #868e96; }
section.queue { border-top: 2px solid #dee2e6; margin-top: 24px; }
ul.checks { list-style: none; padding: 0; margin: 6px 0 12px; }
ul.checks li::before { display: inline-block; width: 1.4em; font-weight: 700; }
ul.checks li.pass::before { content: "\\2713"; color: #2f9e44; } ul.checks li.fail::before { content: "\\2717"; color: #e03131; }
ul.checks li.insufficient-data::before { content: "?"; color: #868e96; } ul.checks li.off::before { content: "\\2013"; color: #adb5bd; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; } figcaption { font-size: 12px; color: #495057; }
table { border-collapse: collapse; margin: 4px 0 12px; font-size: 13px; } caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #dee2e6; padding: 3px 8px; } th { background: #f1f3f5; text-align: left; } td.r { text-align: right; font-variant-numeric: tabular-nums; }
td.verdict-go { color: #2f9e44; font-weight: 600; } td.verdict-hold { color: #e03131; font-weight: 600; } td.verdict-insufficient-data { color: #868e96; font-weight: 600; }
p.note { font-size: 12px; color: #495057; } .none { color: #868e96; }
"""


def _table(table: Table, level: str = "h3") -> str:
    head = f"<{level}>{escape(table.title)}</{level}>"
    if not table.rows:
        return head + '<p class="none">none</p>'
    cells = []
    if any(table.headers):
        cells.append("<thead><tr>" + "".join(f"<th>{escape(header)}</th>" for header in table.headers) + "</tr></thead>")
    body = []
    for row in table.rows:
        tds = []
        for index, (cell, align) in enumerate(zip(row, table.align)):
            classes = ["r"] if align == "r" else []
            if table.key == "verdicts" and index == 1:
                classes.append("verdict-" + cell.lower())
            attr = f' class="{" ".join(classes)}"' if classes else ""
            tds.append(f"<td{attr}>{escape(cell)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    cells.append("<tbody>" + "".join(body) + "</tbody>")
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return f'{head}<table class="{escape(table.key)}" data-table="{escape(table.key)}">' + "".join(cells) + "</table>" + note


def _queue_section(report: Report, index: int) -> str:
    queue = report.queues[index]
    verdict = queue.verdict
    status = escape(verdict.status)
    parts = [
        f'<section class="queue" id="queue-{escape(queue.queue)}" data-queue="{escape(queue.queue)}">',
        f'<h2>{escape(queue.queue)} <span class="badge {status}">{status.upper()}</span></h2>',
        f"<p>{escape('; '.join(verdict.reasons))}</p>",
        '<ul class="checks">' + "".join(f'<li class="{escape(check.status)}">{escape(check.text)}</li>' for check in verdict.checks) + "</ul>",
        '<div class="charts">',
        f"<figure>{latency_chart(queue)}<figcaption>Run time of successful jobs. Bars: share of each backend's runs per bin.</figcaption></figure>",
        f"<figure>{outcomes_chart(queue)}<figcaption>Finished jobs per time bucket; dashed lines: route changes and the split.</figcaption></figure>",
        "</div>",
        _table(backends_table(report, queue.queue)),
        _table(tasks_table(report, queue.queue)),
    ]
    errors = errors_table(report, queue.queue)
    if errors.rows:
        parts.append(_table(errors))
    parts.append("</section>")
    return "".join(parts)


def render_html(report: Report, limit: int | None = 500) -> str:
    """The whole page; at most ``limit`` stranded and duplicate jobs are listed (the JSON has them all)."""
    title = headline(report)
    meta = (
        f"{fmt.count(report.input.events)} events from {escape(', '.join(report.input.sources))}, "
        f"{escape(fmt.when(report.input.first_at))} to {escape(fmt.when(report.input.last_at))}; "
        f"stranded as of {escape(fmt.when(report.now))}"
    )
    badge = escape(report.verdict)
    body = [
        f'<h1>taskbridge compare <span class="badge {badge}">{badge.upper()}</span></h1>',
        f'<p class="meta">{meta}</p>',
        _table(verdict_table(report), "h2"),
    ]
    body += [_queue_section(report, index) for index in range(len(report.queues))]
    body.append('<section class="jobs">')
    for table in (stranded_table(report, limit), duplicates_table(report, limit), pending_table(report), skips_table(report), route_changes_table(report), input_table(report)):
        body.append(_table(table, "h2"))
    body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )
