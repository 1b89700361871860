"""Figures from the series a :class:`~.reader.Partial` holds: counts, rates, percentiles, histograms.

A :class:`Sample` gathers the raw numbers of some series over a time range
(a queue's backend before a split, one task over the whole window, …);
:meth:`Sample.figures` turns them into the :class:`Figures` every renderer
shows. Percentiles are *nearest-rank*: the value at rank ⌈p·n/100⌉ of the
sorted samples, always a value that was measured, so a test (or a reader)
can check it by hand.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Iterable, Sequence

from ..reading.reader import CANCEL, ENQ, FAIL, MOVE_IN, MOVE_OUT, RETRY, SERIES_KINDS, SKIP, START, SUCC

COUNT_NAMES = {
    ENQ: "enqueued", MOVE_IN: "moved_in", MOVE_OUT: "moved_out", START: "started", SUCC: "succeeded",
    FAIL: "failed", RETRY: "retried", CANCEL: "cancelled", SKIP: "skipped",
}
TERMINAL_OUTCOMES = (SUCC, FAIL, CANCEL)


def percentile(ordered: Sequence[float], p: int) -> float | None:
    """Nearest-rank percentile of already sorted values; ``None`` when there are none."""
    n = len(ordered)
    if n == 0:
        return None
    rank = -(-p * n // 100)
    return ordered[max(rank, 1) - 1]


def one_sided_z(confidence: float) -> float:
    """The normal quantile for a one-sided bound at ``confidence`` (0.999 → 3.09)."""
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be between 0.5 and 1 (exclusive), got {confidence!r}")
    return NormalDist().inv_cdf(confidence)


def wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion: sound at 0 % and 100 %, where the normal
    approximation collapses to a single point and would call any difference certain."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (0.0 if successes == 0 else max(0.0, centre - half), 1.0 if successes == n else min(1.0, centre + half))


def rate_drop_interval(base_ok: int, base_n: int, cand_ok: int, cand_n: int, z: float) -> tuple[float, float]:
    """Bounds of (baseline rate − candidate rate), Newcombe's hybrid score method (his
    method 10) built from the two Wilson intervals; each bound holds one-sided at ``z``."""
    p1, p2 = base_ok / base_n, cand_ok / cand_n
    l1, u1 = wilson(base_ok, base_n, z)
    l2, u2 = wilson(cand_ok, cand_n, z)
    drop = p1 - p2
    return (drop - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), drop + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def quantile_interval(ordered: Sequence[float], q: float, z: float) -> tuple[float, float]:
    """Distribution-free bounds of the ``q`` quantile from order statistics (the binomial
    rank interval, normal approximation); a bound the sample cannot give is ±infinity."""
    n = len(ordered)
    if n == 0:
        return (-math.inf, math.inf)
    spread = z * math.sqrt(n * q * (1 - q))
    low_rank, high_rank = math.floor(n * q - spread), math.ceil(n * q + spread) + 1
    low = ordered[low_rank - 1] if low_rank >= 1 else -math.inf
    high = ordered[high_rank - 1] if high_rank <= n else math.inf
    return (low, high)


@dataclass(frozen=True)
class Distribution:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    #: The sorted values themselves, for confidence bounds of a percentile (never rendered).
    ordered: Sequence[float] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, ordered: Sequence[float]) -> Distribution:
        return cls(len(ordered), percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99), ordered)

    def as_dict(self, with_p99: bool = True) -> dict[str, float | int | None]:
        result: dict[str, float | int | None] = {"count": self.count, "p50": self.p50, "p95": self.p95}
        if with_p99:
            result["p99"] = self.p99
        return result


@dataclass(frozen=True)
class Figures:
    """What happened in one slice of the log.

    Counts are of events, so a job retried twice adds three ``started`` and two
    ``retried``. ``moved_in`` / ``moved_out`` count ``task.moved`` events to and
    from this backend: enqueued + moved in − moved out is the number of jobs
    that ended here or still wait here. ``success_rate`` is succeeded / (succeeded + failed);
    cancelled and skipped jobs are neither. ``duration`` is the run time of
    successful attempts (``duration_ms`` of ``task.succeeded``), ``wait`` the
    queue time of every start (``wait_ms`` of ``task.started``).
    """

    enqueued: int
    moved_in: int
    moved_out: int
    started: int
    succeeded: int
    failed: int
    retried: int
    cancelled: int
    skipped: int
    success_rate: float | None
    duration: Distribution
    wait: Distribution
    errors: list[tuple[str, int]]
    retry_errors: list[tuple[str, int]]
    skip_reasons: list[tuple[str, int]]
    cancel_phases: list[tuple[str, int]]

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES.values()}

    def as_dict(self) -> dict[str, object]:
        def pairs(items: list[tuple[str, int]], key: str) -> list[dict[str, object]]:
            return [{key: name, "count": count} for name, count in items]

        return {
            **self.counts(),
            "success_rate": self.success_rate,
            "duration_ms": self.duration.as_dict(),
            "wait_ms": self.wait.as_dict(with_p99=False),
            "errors": pairs(self.errors, "type"),
            "retry_errors": pairs(self.retry_errors, "type"),
            "skip_reasons": pairs(self.skip_reasons, "reason"),
            "cancel_phases": pairs(self.cancel_phases, "phase"),
        }


def _finite(values: Iterable[float]) -> list[float]:
    """Drop NaN and infinities (a missing or odd value), cheaply when there are none, as usual."""
    values = list(values)
    if math.isfinite(sum(values)):
        return values
    return [value for value in values if value - value == 0.0]


@dataclass
class Sample:
    """Raw numbers of some series in a time range, mergeable before figures are taken."""

    counts: list[int] = field(default_factory=lambda: [0] * SERIES_KINDS)
    durations: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    labels: dict[int, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in (FAIL, RETRY, SKIP, CANCEL)})

    def add(self, kind: int, times: array, values: array | None, labels: list[str] | None, lo: float = -math.inf, hi: float = math.inf) -> None:
        """Take the events of one series whose time is in ``[lo, hi)``."""
        if lo == -math.inf and hi == math.inf:
            picked = None
            self.counts[kind] += len(times)
        else:
            picked = [index for index, at in enumerate(times) if lo <= at < hi]
            self.counts[kind] += len(picked)
        if values is not None:
            chosen = values if picked is None else (values[index] for index in picked)
            (self.durations if kind == SUCC else self.waits).extend(_finite(chosen))
        if labels is not None:
            self.labels[kind].update(labels if picked is None else (labels[index] for index in picked))

    def extend(self, other: Sample) -> None:
        for kind, count in enumerate(other.counts):
            self.counts[kind] += count
        self.durations.extend(other.durations)
        self.waits.extend(other.waits)
        for kind, counter in other.labels.items():
            self.labels[kind].update(counter)

    def figures(self, top: int) -> Figures:
        succeeded, failed = self.counts[SUCC], self.counts[FAIL]
        self.durations.sort()
        self.waits.sort()

        def ranked(kind: int, limit: int | None = None) -> list[tuple[str, int]]:
            return sorted(self.labels[kind].items(), key=lambda item: (-item[1], item[0]))[:limit]

        return Figures(
            enqueued=self.counts[ENQ],
            moved_in=self.counts[MOVE_IN],
            moved_out=self.counts[MOVE_OUT],
            started=self.counts[START],
            succeeded=succeeded,
            failed=failed,
            retried=self.counts[RETRY],
            cancelled=self.counts[CANCEL],
            skipped=self.counts[SKIP],
            success_rate=succeeded / (succeeded + failed) if succeeded + failed else None,
            duration=Distribution.of(self.durations),
            wait=Distribution.of(self.waits),
            errors=ranked(FAIL, top),
            retry_errors=ranked(RETRY, top),
            skip_reasons=ranked(SKIP),
            cancel_phases=ranked(CANCEL),
        )


@dataclass(frozen=True)
class Histogram:
    """Counts per log-spaced bin; bin ``i`` holds values in ``(edges[i], edges[i+1]]``, the first also everything below."""

    edges: list[float]
    counts: dict[str, list[int]]

    def as_dict(self) -> dict[str, object]:
        return {"edges_ms": self.edges, "counts": self.counts}


def log_histogram(ordered_by_name: dict[str, Sequence[float]], max_bins: int = 30) -> Histogram | None:
    """One set of edges for all the named sorted samples, so their bars line up."""
    positive: list[float] = []
    for ordered in ordered_by_name.values():
        first_positive = bisect_right(ordered, 0.0)
        if first_positive < len(ordered):
            positive += [ordered[first_positive], ordered[-1]]
    if not positive:
        return None
    low, high = math.log10(min(positive)), math.log10(max(positive))
    per_decade = 5
    while True:
        first, last = math.floor(low * per_decade), math.ceil(high * per_decade)
        if last == first:
            last += 1
        if last - first <= max_bins or per_decade == 1:
            break
        per_decade -= 1
    edges = [10 ** (step / per_decade) for step in range(first, last + 1)]
    counts = {}
    for name, ordered in ordered_by_name.items():
        cuts = [bisect_right(ordered, edge) for edge in edges]
        bins = [cuts[1]] + [cuts[index + 1] - cuts[index] for index in range(1, len(edges) - 1)]
        bins[-1] += len(ordered) - cuts[-1]
        counts[name] = bins
    return Histogram(edges, counts)


NICE_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@dataclass(frozen=True)
class Timeline:
    """Finished jobs per time bucket, per backend and outcome."""

    start: float
    bucket_seconds: float
    buckets: int
    series: dict[str, dict[str, list[int]]]


def timeline(start: float, end: float, times_by_backend: dict[str, dict[int, Iterable[float]]], max_buckets: int) -> Timeline:
    """Bucket the outcome times; the bucket width is the smallest round width giving at most ``max_buckets``."""
    span = max(end - start, 1e-9)
    width: float = next((nice for nice in NICE_BUCKETS if span / nice <= max_buckets), math.ceil(span / max_buckets / 86400) * 86400)
    origin = math.floor(start / width) * width
    count = max(1, math.floor((end - origin) / width) + 1)
    edges = [origin + width * index for index in range(count + 1)]
    series: dict[str, dict[str, list[int]]] = {}
    for backend, by_kind in times_by_backend.items():
        rows = series[backend] = {}
        for kind, times in by_kind.items():
            ordered = sorted(times)
            cuts = [bisect_left(ordered, edge) for edge in edges]
            rows[COUNT_NAMES[kind]] = [cuts[index + 1] - cuts[index] for index in range(count)]
    return Timeline(origin, width, count, series)
