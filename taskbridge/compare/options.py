"""What ``analyse`` is asked to do: filters, the window, the split and the verdict thresholds."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, replace
from typing import Iterable

from .roles import resolve
from .times import parse_duration, parse_iso

SPLIT_ROUTE_CHANGE = "route-change"
DEFAULT_HORIZON = 3600.0


@dataclass(frozen=True)
class Thresholds:
    """When a queue's verdict is *hold* rather than *go*.

    ``max_success_drop_pp``: how many percentage points the candidate's
    success rate may be below the baseline's. ``max_p95_ratio``: the
    candidate's p95 run time over the baseline's.
    ``max_wait_p95_ratio``: the same for the p95 wait, off when ``None``.
    ``min_p95_gap_ms``: a p95 over its ratio still passes when it is at most
    this many milliseconds above the baseline's, so 7 ms against 24 ms is no hold.
    ``min_samples``: fewer finished jobs (succeeded + failed) or fewer timed
    successes than this on either side gives *insufficient data*. Any stranded
    or duplicate job is always a hold.
    ``confidence``: ``None`` compares the measured figures as they are (a
    post-mortem over a whole log). A level such as 0.999 makes the success-rate
    and p95 checks statistical: they fail only when the one-sided confidence
    bound of the difference lies beyond the margin (the lower bound of the
    rate drop over ``max_success_drop_pp``; the candidate's p95 lower bound
    over ``max_p95_ratio`` × the baseline's p95 upper bound, and more than
    ``min_p95_gap_ms`` above it). The live guard uses it so noise in a small
    window never rolls a healthy canary back.
    """

    max_success_drop_pp: float = 1.0
    max_p95_ratio: float = 1.5
    max_wait_p95_ratio: float | None = None
    min_p95_gap_ms: float = 50.0
    min_samples: int = 20
    confidence: float | None = None

    def __post_init__(self) -> None:
        if self.confidence is not None and not 0.5 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0.5 and 1 (exclusive), got {self.confidence!r}")

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "max_success_drop_pp": self.max_success_drop_pp,
            "max_p95_ratio": self.max_p95_ratio,
            "max_wait_p95_ratio": self.max_wait_p95_ratio,
            "min_p95_gap_ms": self.min_p95_gap_ms,
            "min_samples": self.min_samples,
            "confidence": self.confidence,
        }


class NameFilter:
    """Exact names or shell-style patterns (``notebooks.tasks.*``); empty means everything."""

    def __init__(self, patterns: Iterable[str] | None) -> None:
        self.patterns = tuple(patterns or ())
        self._exact = frozenset(p for p in self.patterns if not any(c in p for c in "*?["))
        self._globs = tuple(p for p in self.patterns if p not in self._exact)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, name: str) -> bool:
        if not self.patterns or name in self._exact:
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._globs)


def _time(value: float | str | None) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return value
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return parse_iso(value)


@dataclass(frozen=True)
class Options:
    """Every knob of :func:`taskbridge.compare.analyse`; times are epoch seconds or ISO strings.

    ``split_at`` is a time (every queue is split there) or ``"route-change"``
    (each queue at its last ``route.changed`` event in the window). ``now``
    defaults to the last timestamp in the log: the log is the only clock a
    post-mortem has. ``baseline`` and ``candidate`` name the backends judged
    (aliases, as events carry them); ``None`` until :func:`.roles.resolve`
    fills them from the caller's settings.
    """

    baseline: str | None = None
    candidate: str | None = None
    queues: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    now: float | None = None
    horizon: float = DEFAULT_HORIZON
    split_at: float | str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    top_errors: int = 5
    time_buckets: int = 40
    workers: int | None = None
    block_size: int = 2 * 1024 * 1024

    @classmethod
    def build(cls, **options: object) -> Options:
        """Accept the loose forms a caller or the CLI has: ISO strings, ``"2h"``, lists, threshold keys."""
        threshold_keys = set(Thresholds.__dataclass_fields__)
        thresholds = options.pop("thresholds", None) or Thresholds(
            **{key: options.pop(key) for key in list(options) if key in threshold_keys}
        )
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        values: dict[str, object] = dict(options)
        for key in ("since", "until", "now"):
            values[key] = _time(values.get(key))  # type: ignore[arg-type]
        split = values.get("split_at")
        if split is not None and split != SPLIT_ROUTE_CHANGE:
            values["split_at"] = _time(split)  # type: ignore[arg-type]
        if "horizon" in values:
            values["horizon"] = parse_duration(values["horizon"])  # type: ignore[arg-type]
        for key in ("queues", "tasks"):
            raw = values.get(key) or ()
            values[key] = (raw,) if isinstance(raw, str) else tuple(raw)  # type: ignore[arg-type]
        built = cls(thresholds=thresholds, **values)  # type: ignore[arg-type]
        if built.since is not None and built.until is not None and built.since >= built.until:
            raise ValueError("since must be before until")
        if built.horizon < 0:
            raise ValueError("horizon must not be negative")
        return built

    def with_roles(self) -> Options:
        """These options with both backend names set (see :mod:`.roles`)."""
        baseline, candidate = resolve(self.baseline, self.candidate)
        if (baseline, candidate) == (self.baseline, self.candidate):
            return self
        return replace(self, baseline=baseline, candidate=candidate)

    @property
    def window(self) -> tuple[float, float]:
        return (-math.inf if self.since is None else self.since, math.inf if self.until is None else self.until)
