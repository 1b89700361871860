"""The ``compare`` command line, shared by ``manage.py taskbridge compare`` and ``python -m taskbridge.compare``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import CompareError
from .entry import analyse
from .options import SPLIT_ROUTE_CHANGE, Options
from .rendering.html import render_html
from .rendering.json import render_json
from .rendering.markdown import render_markdown
from .rendering.text import render_text
from .judging.verdict import HOLD

EXIT_HOLD = 3

DESCRIPTION = """Judge the candidate backend against the baseline from their event logs (JSON lines, plain or gzip,
any order): per queue, task and backend figures; stranded and duplicate jobs; a go / hold verdict per queue.
Malformed lines, unknown events and newer-schema events are counted and reported, never fatal."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("files", nargs="*", metavar="FILE", help="event logs, plain or gzip; none or - reads standard input")
    roles = parser.add_argument_group("backends")
    roles.add_argument("--baseline", metavar="NAME", help="the backend migrated from, as events name it (default: TASKBRIDGE['BASELINE'] under Django settings)")
    roles.add_argument("--candidate", metavar="NAME", help="the backend migrated to (default: TASKBRIDGE['CANDIDATE'] under Django settings)")
    select = parser.add_argument_group("selection")
    select.add_argument("--queue", action="append", metavar="QUEUE", help="only this queue (repeatable; shell patterns such as 'report*' work)")
    select.add_argument("--task", action="append", metavar="TASK", help="only this task, by dotted path (repeatable; patterns work)")
    select.add_argument("--since", metavar="TIME", help="only events at or after TIME (ISO 8601; no zone means UTC)")
    select.add_argument("--until", metavar="TIME", help="only events before TIME")
    select.add_argument(
        "--split-at", metavar="TIME|route-change",
        help="compare before and after TIME, or each queue's last route.changed event: the verdict then judges the candidate after against the baseline before",
    )
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument("--horizon", default="1h", metavar="DURATION", help="a job with no terminal event, due longer than this ago, is stranded (default: 1h; e.g. 90s, 15m, 2h, 1d)")
    jobs.add_argument("--now", metavar="TIME", help="the time stranded jobs are judged at (default: the last timestamp in the log)")
    verdict = parser.add_argument_group("verdict thresholds")
    verdict.add_argument("--max-success-drop", type=float, default=1.0, metavar="PP", help="hold if the candidate's success rate is more than PP percentage points below the baseline's (default: 1.0)")
    verdict.add_argument("--max-p95-ratio", type=float, default=1.5, metavar="RATIO", help="hold if the candidate's p95 run time is more than RATIO times the baseline's (default: 1.5)")
    verdict.add_argument("--max-wait-p95-ratio", type=float, default=None, metavar="RATIO", help="hold if the candidate's p95 wait is more than RATIO times the baseline's (default: not checked)")
    verdict.add_argument("--min-p95-gap", type=float, default=50.0, metavar="MS", help="a p95 over its ratio still passes when at most MS milliseconds above the baseline's (default: 50)")
    verdict.add_argument("--min-samples", type=int, default=20, metavar="N", help="fewer finished jobs or timed runs than N on either side: insufficient data (default: 20)")
    verdict.add_argument("--confidence", type=float, default=None, metavar="LEVEL", help="judge the rate and p95s by a one-sided confidence bound at LEVEL (e.g. 0.999), as the live guard does (default: the measured figures)")
    output = parser.add_argument_group("output")
    formats = output.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="JSON on standard output (stable keys, see docs/compare.md)")
    formats.add_argument("--markdown", action="store_true", help="Markdown on standard output")
    output.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with tables and charts to FILE")
    output.add_argument("--fail-on-hold", action="store_true", help=f"exit with status {EXIT_HOLD} when any queue's verdict is hold")
    output.add_argument("--top-errors", type=int, default=5, metavar="N", help="error types listed per row (default: 5)")
    output.add_argument("--limit", type=int, default=20, metavar="N", help="stranded and duplicate jobs listed in text and Markdown (default: 20; JSON lists all)")
    parser.add_argument("--workers", type=int, default=None, metavar="N", help="processes parsing large files, this one included (default: one per CPU, at most 8; 1: this one only)")


def build_options(options: dict[str, Any]) -> Options:
    """The options from the parsed arguments (``add_arguments`` gives every key its default)."""
    split = options["split_at"]
    try:
        return Options.build(
            baseline=options.get("baseline"),
            candidate=options.get("candidate"),
            queues=options["queue"] or (),
            tasks=options["task"] or (),
            since=options["since"],
            until=options["until"],
            now=options["now"],
            horizon=options["horizon"],
            split_at=SPLIT_ROUTE_CHANGE if split in ("route-change", "route.changed") else split,
            max_success_drop_pp=options["max_success_drop"],
            max_p95_ratio=options["max_p95_ratio"],
            max_wait_p95_ratio=options["max_wait_p95_ratio"],
            min_p95_gap_ms=options["min_p95_gap"],
            min_samples=options["min_samples"],
            confidence=options["confidence"],
            top_errors=options["top_errors"],
            workers=options["workers"],
        ).with_roles()
    except (TypeError, ValueError) as error:
        raise CompareError(str(error)) from error


def run(options: dict[str, Any], write: Callable[[str], None]) -> int:
    """Analyse, write the chosen output, and return the exit status (``EXIT_HOLD`` or 0)."""
    settings = build_options(options)
    files = options.get("files") or ["-"]
    if options.get("html"):
        directory = os.path.dirname(os.path.abspath(options["html"]))
        if not os.path.isdir(directory):
            raise CompareError(f"cannot write {options['html']}: no directory {directory}")
    try:
        report = analyse(files[0] if len(files) == 1 else [Path(name) for name in files], settings)
    except FileNotFoundError as error:
        raise CompareError(str(error)) from error
    limit = options["limit"]
    if options.get("json"):
        write(render_json(report))
    elif options.get("markdown"):
        write(render_markdown(report, limit))
    else:
        write(render_text(report, limit))
    if options.get("html"):
        with open(options["html"], "w", encoding="utf-8") as handle:
            handle.write(render_html(report))
    if options.get("fail_on_hold") and report.verdict == HOLD:
        return EXIT_HOLD
    return 0
