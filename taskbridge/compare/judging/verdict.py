"""The go / hold decision for one queue, and the reasons for it in words.

The *candidate* backend is judged against the *baseline* on the same queue;
each :class:`Side` carries its backend's name, which the reasons quote. Any stranded or duplicate job is a hold whatever the numbers say: it is
work lost or done twice. The success-rate and p95 checks each need
``min_samples`` on both sides; a check that cannot be made leaves the verdict
at *insufficient data* unless another check already says hold, because
evidence of a problem outweighs missing evidence of its absence.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .. import fmt
from ..options import Thresholds
from .stats import Figures, one_sided_z, quantile_interval, rate_drop_interval
from ..times import format_duration

GO = "go"
HOLD = "hold"
INSUFFICIENT = "insufficient-data"
SEVERITY = {GO: 0, INSUFFICIENT: 1, HOLD: 2}

PASS = "pass"
FAIL = "fail"
NOT_EVALUATED = "insufficient-data"
OFF = "off"


@dataclass(frozen=True)
class Side:
    """One side of the comparison: a backend's figures in a period of the queue's window."""

    backend: str
    period: str
    figures: Figures | None


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    value: float | int | None
    threshold: float | int | None
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "value": self.value, "threshold": self.threshold, "text": self.text}


@dataclass(frozen=True)
class Verdict:
    status: str
    summary: str
    reasons: list[str]
    checks: list[Check]
    baseline: Side
    candidate: Side

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "summary": self.summary,
            "reasons": self.reasons,
            "checks": [check.as_dict() for check in self.checks],
            "baseline": {"backend": self.baseline.backend, "period": self.baseline.period},
            "candidate": {"backend": self.candidate.backend, "period": self.candidate.period},
        }


def _stranded_check(stranded: Counter[str], horizon: float) -> Check:
    total = sum(stranded.values())
    if not total:
        return Check("stranded", PASS, 0, 0, "no stranded jobs")
    where = ", ".join(f"{count} on {backend}" for backend, count in sorted(stranded.items()))
    return Check(
        "stranded", FAIL, total, 0,
        f"{fmt.plural(total, 'stranded job')} ({where}): enqueued, due over {format_duration(horizon)} ago, no terminal event",
    )


def _duplicate_check(duplicates: int) -> Check:
    if not duplicates:
        return Check("duplicates", PASS, 0, 0, "no job succeeded twice")
    return Check("duplicates", FAIL, duplicates, 0, f"{fmt.plural(duplicates, 'job id')} succeeded more than once")


def _short(side: Side, need: int, what: str, have: int) -> str:
    return f"{fmt.plural(have, what)} on {side.backend}{_period(side)} (need {need})"


def _period(side: Side) -> str:
    return "" if side.period == "all" else f" {side.period} the split"


def _rate_check(baseline: Side, candidate: Side, limits: Thresholds) -> Check:
    need = limits.min_samples
    short = [
        _short(side, need, "finished job", side.figures.finished if side.figures else 0)
        for side in (baseline, candidate)
        if side.figures is None or side.figures.finished < need or side.figures.success_rate is None
    ]
    if short:
        return Check("success_rate", NOT_EVALUATED, None, limits.max_success_drop_pp, "success rate not compared: only " + " and ".join(short))
    base, cand = baseline.figures.success_rate, candidate.figures.success_rate  # type: ignore[union-attr]
    drop = round((base - cand) * 100, 9)  # type: ignore[operator]
    head = f"success rate {candidate.backend} {fmt.rate(cand)} vs {baseline.backend} {fmt.rate(base)}"
    if limits.confidence is not None:
        return _rate_test(baseline.figures, candidate.figures, drop, head, limits)  # type: ignore[arg-type]
    if drop > limits.max_success_drop_pp:
        return Check("success_rate", FAIL, drop, limits.max_success_drop_pp, f"{head}: {fmt.pp(drop)} lower, over the {fmt.pp(limits.max_success_drop_pp)} allowed")
    direction = f"{fmt.pp(drop)} lower" if drop > 0 else ("the same" if drop == 0 else f"{fmt.pp(-drop)} higher")
    return Check("success_rate", PASS, drop, limits.max_success_drop_pp, f"{head}: {direction}, within {fmt.pp(limits.max_success_drop_pp)}")


def _rate_test(base: Figures, cand: Figures, drop: float, head: str, limits: Thresholds) -> Check:
    """The rate check as a test: fail only when even the lower confidence bound of the drop is over the margin."""
    z = one_sided_z(limits.confidence)  # type: ignore[arg-type]
    low, _high = rate_drop_interval(base.succeeded, base.finished, cand.succeeded, cand.finished, z)
    low_pp = round(low * 100, 9)
    bound = f"{fmt.pp(drop)} lower, at least {fmt.pp(low_pp)} at {limits.confidence:.1%} confidence"
    if low_pp > limits.max_success_drop_pp:
        return Check("success_rate", FAIL, drop, limits.max_success_drop_pp, f"{head}: {bound}, over the {fmt.pp(limits.max_success_drop_pp)} allowed")
    return Check("success_rate", PASS, drop, limits.max_success_drop_pp, f"{head}: {bound}, not significantly over {fmt.pp(limits.max_success_drop_pp)}")


def _ratio(candidate: float, baseline: float) -> float:
    if baseline > 0:
        return candidate / baseline
    return 1.0 if candidate <= 0 else float("inf")


def _p95_check(
    name: str, label: str, baseline: Side, candidate: Side, limit: float | None, need: int, gap_ms: float, confidence: float | None = None,
) -> Check:
    if limit is None:
        return Check(name, OFF, None, None, f"p95 {label} not checked")

    def distribution(side: Side):  # noqa: ANN202
        return None if side.figures is None else (side.figures.duration if name == "p95_duration" else side.figures.wait)

    short = [
        _short(side, need, f"{label} sample", 0 if distribution(side) is None else distribution(side).count)
        for side in (baseline, candidate)
        if distribution(side) is None or distribution(side).count < need
    ]
    if short:
        return Check(name, NOT_EVALUATED, None, limit, f"p95 {label} not compared: only " + " and ".join(short))
    base, cand = distribution(baseline).p95, distribution(candidate).p95
    value = round(_ratio(cand, base), 9)
    head = f"p95 {label} {candidate.backend} {fmt.ms(cand)} vs {baseline.backend} {fmt.ms(base)}: {fmt.ratio(value)}"
    if confidence is not None:
        z = one_sided_z(confidence)
        cand_low = quantile_interval(distribution(candidate).ordered, 0.95, z)[0]
        base_high = quantile_interval(distribution(baseline).ordered, 0.95, z)[1]
        bounded = cand_low > -math.inf and base_high < math.inf
        bound = f"{fmt.ms(cand_low)} vs {fmt.ms(base_high)}" if bounded else "not bounded yet"
        if bounded and _ratio(cand_low, base_high) > limit and cand_low - base_high > gap_ms:
            return Check(name, FAIL, value, limit, f"{head}; at {confidence:.1%} confidence at least {bound}, over the {fmt.ratio(limit)} allowed")
        return Check(name, PASS, value, limit, f"{head}; not significantly over {fmt.ratio(limit)} at {confidence:.1%} confidence ({bound})")
    if value > limit and cand - base > gap_ms:
        return Check(name, FAIL, value, limit, f"{head}, over the {fmt.ratio(limit)} allowed")
    if value > limit:
        return Check(name, PASS, value, limit, f"{head}, but only {fmt.ms(cand - base)} apart (gap allowed: {fmt.ms(gap_ms)})")
    return Check(name, PASS, value, limit, f"{head}, within {fmt.ratio(limit)}")


def decide(baseline: Side, candidate: Side, stranded: Counter[str], duplicates: int, thresholds: Thresholds, horizon: float, note: str | None = None) -> Verdict:
    """The verdict for one queue; ``stranded`` counts stranded jobs per backend."""
    checks = [
        _stranded_check(stranded, horizon),
        _duplicate_check(duplicates),
        _rate_check(baseline, candidate, thresholds),
        _p95_check("p95_duration", "duration", baseline, candidate, thresholds.max_p95_ratio, thresholds.min_samples, thresholds.min_p95_gap_ms, thresholds.confidence),
        _p95_check("p95_wait", "wait", baseline, candidate, thresholds.max_wait_p95_ratio, thresholds.min_samples, thresholds.min_p95_gap_ms, thresholds.confidence),
    ]
    failed = [check for check in checks if check.status == FAIL]
    missing = [check for check in checks if check.status == NOT_EVALUATED]
    if failed:
        status, leading = HOLD, failed
    elif missing:
        status, leading = INSUFFICIENT, missing
    else:
        status, leading = GO, [check for check in checks if check.status == PASS]
    reasons = [check.text for check in leading]
    if note:
        reasons.append(note)
    summary = f"{status}: " + "; ".join(check.text for check in leading)
    return Verdict(status, summary, reasons, checks, baseline, candidate)


def overall(statuses: list[str]) -> str:
    """The report's verdict: the worst queue's, and *insufficient data* for an empty report."""
    if not statuses:
        return INSUFFICIENT
    return max(statuses, key=SEVERITY.__getitem__)
