"""The report as plain-text tables for a terminal (the default output)."""

from __future__ import annotations

from collections import Counter

from ..judging.report import Report
from .tables import Table, all_tables


def _table(table: Table) -> list[str]:
    widths = [len(header) for header in table.headers]
    for row in table.rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]

    def line(cells: list[str]) -> str:
        padded = [cell.rjust(width) if align == "r" else cell.ljust(width) for cell, width, align in zip(cells, widths, table.align)]
        return "  ".join(padded).rstrip()

    lines = [table.title, "=" * len(table.title)]
    if any(table.headers):
        lines += [line(table.headers), "  ".join("-" * width for width in widths)]
    lines += [line(row) for row in table.rows] or ["(none)"]
    if table.note:
        lines.append(table.note)
    return lines


def headline(report: Report) -> str:
    counts = Counter(queue.verdict.status for queue in report.queues)
    detail = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    return f"taskbridge compare: {report.verdict.upper()}" + (f" ({len(report.queues)} queues: {detail})" if report.queues else " (no task events in the selection)")


def render_text(report: Report, limit: int | None = 20) -> str:
    """Every table, aligned; at most ``limit`` stranded and duplicate jobs are listed."""
    blocks = [headline(report)]
    for table in all_tables(report, limit):
        blocks.append("\n".join(_table(table)))
    return "\n\n".join(blocks) + "\n"
