"""The statistical form of compare's verdict (``Thresholds.confidence``), which the live guard uses:
a difference counts only when its confidence bound lies beyond the margin."""

from __future__ import annotations

import random

import pytest

from taskbridge.compare import judge_events
from taskbridge.compare.judging.stats import one_sided_z, quantile_interval, rate_drop_interval, wilson
from tests.support.synthetic import jobs

Z = one_sided_z(0.999)
ROLES = {"baseline": "celery", "candidate": "rq"}


def verdict(events, **thresholds):
    report = judge_events(events, **ROLES, horizon=3600, **thresholds)
    [queue] = report.queues
    return queue.verdict


def test_wilson_interval_is_sound_at_the_edges():
    low, high = wilson(0, 10, Z)
    assert low == 0.0 and 0.4 < high < 0.6
    low, high = wilson(30, 30, Z)
    assert 0.7 < low < 0.8 and high == 1.0
    assert wilson(0, 0, Z) == (0.0, 1.0)


def test_rate_drop_bounds_contain_the_point_and_tighten_with_samples():
    low, high = rate_drop_interval(95, 100, 90, 100, Z)
    assert low < 0.05 < high
    wide = rate_drop_interval(19, 20, 18, 20, Z)
    narrow = rate_drop_interval(1900, 2000, 1800, 2000, Z)
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 5
    assert 0.02 < narrow[0] < 0.03  # 5 pp apart on 2000 jobs each: 5 - 3.09 × 0.83 pp


def test_quantile_interval_uses_measured_ranks_and_is_unbounded_when_the_sample_is_too_small():
    ordered = [float(value) for value in range(1, 1001)]
    low, high = quantile_interval(ordered, 0.95, Z)
    assert 900 < low < 950 < high < 1000
    assert low in ordered and high in ordered
    assert quantile_interval([1.0, 2.0, 3.0], 0.95, Z)[1] == float("inf")


def test_a_small_noisy_drop_is_a_hold_as_measured_but_not_significant():
    events = jobs("celery", "default", 20) + jobs("rq", "default", 19) + jobs("rq", "default", 1, ok=False)
    assert verdict(events, min_samples=10).status == "hold"
    tested = verdict(events, min_samples=10, confidence=0.999)
    assert tested.status == "go"
    rate = next(check for check in tested.checks if check.name == "success_rate")
    assert rate.status == "pass" and "not significantly" in rate.text


def test_a_candidate_failing_its_jobs_is_significant_after_a_few_samples():
    events = jobs("celery", "default", 30) + jobs("rq", "default", 10, ok=False)
    tested = verdict(events, min_samples=10, confidence=0.999, max_success_drop_pp=5.0)
    assert tested.status == "hold"
    rate = next(check for check in tested.checks if check.name == "success_rate")
    assert rate.status == "fail" and "at 99.9% confidence" in rate.text


def test_same_noisy_timings_never_fail_the_p95_test():
    held_as_measured = 0
    for seed in range(60):
        rng = random.Random(seed)
        noisy = lambda: iter([rng.lognormvariate(4.0, 0.8) for _ in range(40)])  # noqa: E731
        events = jobs("celery", "default", 40, durations=noisy()) + jobs("rq", "default", 40, durations=noisy())
        assert verdict(events, min_samples=10, confidence=0.999, max_p95_ratio=1.5, min_p95_gap_ms=10).status == "go", seed
        held_as_measured += verdict(events, min_samples=10, max_p95_ratio=1.5, min_p95_gap_ms=10).status == "hold"
    assert held_as_measured > 0  # the point comparison would have flapped


def test_a_much_slower_candidate_fails_the_p95_test_once_the_baseline_p95_is_bounded():
    rng = random.Random(1)
    slow_values = [rng.uniform(400, 600) for _ in range(300)]
    few = jobs("celery", "default", 60, durations=iter([rng.uniform(20, 40) for _ in range(60)]))
    p95 = next(check for check in verdict(few + jobs("rq", "default", 60, durations=iter(slow_values)), min_samples=10, confidence=0.999).checks if check.name == "p95_duration")
    assert p95.status == "pass" and "not bounded yet" in p95.text  # 60 runs cannot bound a p95 from above at 99.9 %
    enough = jobs("celery", "default", 300, durations=iter([rng.uniform(20, 40) for _ in range(300)]))
    tested = verdict(enough + jobs("rq", "default", 300, durations=iter(slow_values)), min_samples=10, confidence=0.999)
    p95 = next(check for check in tested.checks if check.name == "p95_duration")
    assert p95.status == "fail" and tested.status == "hold"


def test_confidence_out_of_range_is_refused():
    with pytest.raises(ValueError, match="confidence"):
        verdict(jobs("celery", "default", 1), confidence=1.0)
