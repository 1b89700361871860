"""The guard's settings: ``TASKBRIDGE["GUARD"]`` over these defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .. import conf
from ..compare.options import Thresholds


@dataclass(frozen=True)
class GuardConfig:
    """``interval``: seconds between looks. ``window``: seconds of candidate events judged
    (never older than the queue's last route change, so a new canary is not blamed for
    an old one). ``baseline_window``: seconds of baseline events, longer so a queue fully
    on the candidate still has a reference. ``confidence``, ``min_samples`` and the
    margins are compare's :class:`~taskbridge.compare.options.Thresholds`, made a test.
    ``lease_seconds``: how long a guard that stopped renewing keeps the others waiting.
    """

    interval: float = 2.0
    window: float = 120.0
    baseline_window: float = 900.0
    confidence: float = 0.999
    min_samples: int = 10
    max_success_drop_pp: float = 5.0
    max_p95_ratio: float = 2.0
    max_wait_p95_ratio: float | None = None
    min_p95_gap_ms: float = 100.0
    lease_seconds: float = 10.0

    @classmethod
    def from_settings(cls, **overrides: Any) -> GuardConfig:
        given = {key.lower(): value for key, value in conf.option("GUARD").items()}
        given.update({key: value for key, value in overrides.items() if value is not None})
        known = {item.name for item in fields(cls)}
        unknown = set(given) - known
        if unknown:
            raise ValueError(f"unknown TASKBRIDGE['GUARD'] key(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        built = cls(**given)
        if built.interval <= 0 or built.window <= 0 or built.baseline_window < built.window or built.lease_seconds <= built.interval:
            raise ValueError("the guard needs interval > 0, window > 0, baseline_window >= window and lease_seconds > interval")
        built.thresholds()  # checks the confidence
        return built

    def thresholds(self) -> Thresholds:
        return Thresholds(
            max_success_drop_pp=self.max_success_drop_pp, max_p95_ratio=self.max_p95_ratio,
            max_wait_p95_ratio=self.max_wait_p95_ratio, min_p95_gap_ms=self.min_p95_gap_ms,
            min_samples=self.min_samples, confidence=self.confidence,
        )
