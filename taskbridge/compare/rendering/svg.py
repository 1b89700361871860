"""Inline SVG charts for the HTML report: no script, no external file, readable when printed.

Two charts per queue: the run-time distribution of the two compared
backends side by side (coloured by role: baseline blue, candidate orange) (log-scaled bins, each backend's bars as a share of its
own samples so unequal traffic still compares), and finished jobs over time
per backend, stacked by outcome, with the split and route changes marked.
"""

from __future__ import annotations

import math
from html import escape

from .. import fmt
from ..judging.report import QueueReport
from ..judging.stats import Histogram
from ..roles import BASELINE, CANDIDATE, ROLES

ROLE_COLOURS = {BASELINE: "#2f6fdf", CANDIDATE: "#e8590c"}
OTHER_COLOURS = ["#7048e8", "#0c8599", "#5c940d"]
OUTCOME_COLOURS = {"succeeded": "#2f9e44", "failed": "#e03131", "cancelled": "#adb5bd"}


def colour(role: str | None, index: int = 0) -> str:
    """A backend's colour by its role in the verdict, so a chart reads the same whatever the backends are called."""
    return ROLE_COLOURS.get(role, OTHER_COLOURS[index % len(OTHER_COLOURS)])  # type: ignore[arg-type]


def role_of(queue: QueueReport, backend: str) -> str | None:
    """``baseline``, ``candidate`` or ``None`` (a third backend in the log) for one of the queue's backends."""
    verdict = queue.verdict
    return BASELINE if backend == verdict.baseline.backend else CANDIDATE if backend == verdict.candidate.backend else None


def _attrs(**values: object) -> str:
    return " ".join(f'{key.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for key, value in values.items())


def _text(x: float, y: float, body: str, anchor: str = "start", size: int = 11, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>{escape(body)}</text>'


def _open(kind: str, queue: str, width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" data-queue="{escape(queue)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )


def latency_chart(queue: QueueReport, width: int = 560, height: int = 260) -> str:
    """Share of each compared backend's successful runs per log-scaled duration bin."""
    verdict = queue.verdict
    sides = [verdict.baseline, verdict.candidate]
    label = f"{queue.queue}: run time of successful jobs, " + " vs ".join(
        side.backend + ("" if side.period == "all" else f" ({side.period})") for side in sides
    )
    parts = [_open("latency", queue.queue, width, height, label)]
    histogram: Histogram | None = queue.histogram
    if histogram is None or not any(sum(counts) for counts in histogram.counts.values()):
        parts.append(_text(width / 2, height / 2, "no successful runs with a duration to compare", "middle", 13))
        parts.append("</svg>")
        return "".join(parts)

    left, right, top, bottom = 48, 12, 44, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    edges = histogram.edges
    lo, hi = math.log10(edges[0]), math.log10(edges[-1])
    span = hi - lo or 1.0

    def x_of(value: float) -> float:
        return left + (math.log10(max(value, edges[0])) - lo) / span * plot_w

    shares = {}
    for name, counts in histogram.counts.items():
        total = sum(counts)
        shares[name] = [count / total if total else 0.0 for count in counts]
    step, peak = _nice_scale(max(max(values) for values in shares.values()) * 100)
    peak /= 100

    parts.append(f'<rect {_attrs(x=left, y=top, width=plot_w, height=plot_h, fill="#fafafa", stroke="#dee2e6")}/>')
    tick = step
    while tick <= peak * 100 + 1e-9:
        y = top + plot_h - tick / 100 / peak * plot_h
        parts.append(f'<line {_attrs(x1=left, x2=left + plot_w, y1=f"{y:.1f}", y2=f"{y:.1f}", stroke="#e9ecef")}/>')
        parts.append(_text(left - 4, y + 4, f"{tick:g}%", "end", 10))
        tick += step
    names = list(histogram.counts)
    for index in range(len(edges) - 1):
        x0, x1 = x_of(edges[index]), x_of(edges[index + 1])
        slot = (x1 - x0) / max(len(names), 1)
        for position, name in enumerate(names):
            share = shares[name][index]
            if share <= 0:
                continue
            bar_h = share / peak * plot_h
            tip = f"{name}: {histogram.counts[name][index]:,} runs ({share * 100:.1f}%) in {fmt.ms(edges[index])} – {fmt.ms(edges[index + 1])}"
            parts.append(
                f'<rect {_attrs(x=f"{x0 + position * slot + 0.5:.1f}", y=f"{top + plot_h - bar_h:.1f}", width=f"{max(slot - 1, 0.5):.1f}", height=f"{bar_h:.1f}", fill=colour(role_of(queue, name), position))}>'
                f"<title>{escape(tip)}</title></rect>"
            )
    decade = math.ceil(lo)
    while decade <= hi:
        x = x_of(10 ** decade)
        parts.append(f'<line {_attrs(x1=f"{x:.1f}", x2=f"{x:.1f}", y1=top + plot_h, y2=top + plot_h + 4, stroke="#495057")}/>')
        parts.append(_text(x, top + plot_h + 16, _decade_label(10 ** decade), "middle", 10))
        decade += 1
    for position, (role, side) in enumerate(zip(ROLES, sides)):
        figures = side.figures
        if figures is None or figures.duration.p95 is None:
            continue
        for name, value, dash in (("p50", figures.duration.p50, "2,3"), ("p95", figures.duration.p95, "6,3")):
            x = x_of(value)  # type: ignore[arg-type]
            parts.append(
                f'<line class="marker" {_attrs(x1=f"{x:.1f}", x2=f"{x:.1f}", y1=top, y2=top + plot_h, stroke=colour(role, position), stroke_dasharray=dash)}>'
                f"<title>{escape(f'{side.backend} {name} {fmt.ms(value)}')}</title></line>"
            )
    for position, (role, side) in enumerate(zip(ROLES, sides)):
        figures = side.figures
        summary = "no data" if figures is None else f"{figures.duration.count:,} runs, p50 {fmt.ms(figures.duration.p50)}, p95 {fmt.ms(figures.duration.p95)}"
        y = 6 + position * 16
        parts.append(f'<rect {_attrs(x=left, y=y, width=10, height=10, fill=colour(role, position))}/>')
        caption = f"{role} {side.backend}" + ("" if side.period == "all" else f" ({side.period} the split)") + f": {summary}"
        parts.append(_text(left + 14, y + 9, caption, size=11))
    parts.append(_text(left + plot_w / 2, height - 4, "run time (log scale); dashed: p50 and p95", "middle", 10))
    parts.append("</svg>")
    return "".join(parts)


def outcomes_chart(queue: QueueReport, width: int = 560, row_height: int = 90) -> str:
    """Finished jobs per time bucket, one row per backend, stacked succeeded / failed / cancelled."""
    timeline = queue.timeline
    backends = list(timeline.series) if timeline else []
    height = 40 + max(len(backends), 1) * (row_height + 14) + 24
    label = f"{queue.queue}: finished jobs over time per backend"
    parts = [_open("outcomes", queue.queue, width, height, label)]
    if timeline is None or not backends:
        parts.append(_text(width / 2, height / 2, "no finished jobs in the window", "middle", 13))
        parts.append("</svg>")
        return "".join(parts)

    left, right, top = 48, 12, 28
    plot_w = width - left - right
    bar_w = plot_w / timeline.buckets
    totals = {
        backend: [sum(values[index] for values in rows.values()) for index in range(timeline.buckets)]
        for backend, rows in timeline.series.items()
    }
    peak = max((max(values) for values in totals.values()), default=0) or 1
    x = left
    for name, fill in OUTCOME_COLOURS.items():
        parts.append(f'<rect {_attrs(x=x, y=8, width=10, height=10, fill=fill)}/>')
        parts.append(_text(x + 14, 17, name))
        x += 14 + 6.2 * len(name) + 16
    parts.append(_text(width - right, 17, f"jobs per {_bucket_label(timeline.bucket_seconds)}; tallest bar {peak:,}", "end", 10))
    end = timeline.start + timeline.bucket_seconds * timeline.buckets
    for row, backend in enumerate(backends):
        y0 = top + row * (row_height + 14)
        base = y0 + row_height
        parts.append(f'<rect {_attrs(x=left, y=y0, width=plot_w, height=row_height, fill="#fafafa", stroke="#dee2e6")}/>')
        parts.append(_text(left - 4, y0 + 12, backend, "end", 11, f' fill="{colour(role_of(queue, backend), row)}" font-weight="bold"'))
        for index in range(timeline.buckets):
            stacked = 0
            for outcome in OUTCOME_COLOURS:
                value = timeline.series[backend].get(outcome, [0] * timeline.buckets)[index]
                if not value:
                    continue
                bar_h = value / peak * (row_height - 4)
                at = timeline.start + index * timeline.bucket_seconds
                parts.append(
                    f'<rect {_attrs(x=f"{left + index * bar_w + 0.5:.1f}", y=f"{base - stacked - bar_h:.1f}", width=f"{max(bar_w - 1, 0.5):.1f}", height=f"{bar_h:.1f}", fill=OUTCOME_COLOURS[outcome])}>'
                    f"<title>{escape(f'{backend} {outcome}: {value:,} from {fmt.when(at)}')}</title></rect>"
                )
                stacked += bar_h
        marks = [(change.at, f"route {change.source or '?'} → {change.target or '?'}") for change in queue.route_changes]
        if queue.split_at is not None:
            marks.append((queue.split_at, "split"))
        for at, text in marks:
            if timeline.start <= at <= end:
                x = left + (at - timeline.start) / (end - timeline.start) * plot_w
                parts.append(
                    f'<line class="mark" {_attrs(x1=f"{x:.1f}", x2=f"{x:.1f}", y1=y0, y2=base, stroke="#212529", stroke_dasharray="4,3")}>'
                    f"<title>{escape(f'{text} at {fmt.when(at)}')}</title></line>"
                )
    bottom = top + len(backends) * (row_height + 14) - 14
    parts.append(_text(left, bottom + 16, fmt.when(timeline.start), "start", 10))
    parts.append(_text(left + plot_w, bottom + 16, fmt.when(end), "end", 10))
    parts.append("</svg>")
    return "".join(parts)


def _nice_scale(peak: float) -> tuple[float, float]:
    """A tick step from 1-2-5 steps and the axis top (a multiple of it), for at most five ticks."""
    if peak <= 0:
        return 1.0, 1.0
    magnitude = 10 ** math.floor(math.log10(peak))
    for factor in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if peak / step <= 5:
            return step, math.ceil(peak / step - 1e-9) * step
    return magnitude * 10, magnitude * 10


def _bucket_label(seconds: float) -> str:
    if seconds % 86400 == 0:
        return f"{seconds / 86400:g} d"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _decade_label(milliseconds: float) -> str:
    return f"{milliseconds:g} ms" if milliseconds < 1000 else f"{milliseconds / 1000:g} s"
