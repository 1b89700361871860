"""The report as GitHub-flavoured Markdown, for a pull request or a change ticket."""

from __future__ import annotations

from .text import headline
from ..judging.report import Report
from .tables import Table, all_tables


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "


def _table(table: Table) -> str:
    headers = table.headers if any(table.headers) else ["", ""]
    lines = [f"## {table.title}", ""]
    if not table.rows:
        return "\n".join(lines + ["_none_"])
    lines.append("| " + " | ".join(_cell(header) for header in headers) + " |")
    lines.append("|" + "|".join("---:" if align == "r" else "---" for align in table.align) + "|")
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def render_markdown(report: Report, limit: int | None = 50) -> str:
    blocks = [f"# {headline(report)}"]
    blocks += [_table(table) for table in all_tables(report, limit)]
    return "\n\n".join(blocks) + "\n"
