"""The verdict rules: thresholds, their edges, and the order hold > insufficient data > go."""

from __future__ import annotations

from collections import Counter

import pytest

from taskbridge.compare.options import Thresholds
from taskbridge.compare.reading.reader import FAIL, START, SUCC
from taskbridge.compare.judging.stats import Sample
from taskbridge.compare.judging.verdict import GO, HOLD, INSUFFICIENT, Side, decide, overall


def figures(succeeded: int, failed: int, durations: list[float], waits: list[float] | None = None):
    sample = Sample()
    sample.counts[SUCC] = succeeded
    sample.counts[FAIL] = failed
    sample.counts[START] = succeeded + failed
    sample.durations = list(durations)
    sample.waits = list(waits or [])
    return sample.figures(5)


def sides(celery, rq):
    return Side("celery", "all", celery), Side("rq", "all", rq)


def check(verdict, name):
    return next(item for item in verdict.checks if item.name == name)


HORIZON = 3600.0


def test_go_when_every_check_passes():
    verdict = decide(*sides(figures(100, 0, [100] * 100), figures(100, 0, [120] * 100)), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == GO
    assert verdict.summary.startswith("go: no stranded jobs; no job succeeded twice; success rate rq 100.00% vs celery 100.00%: the same")
    assert check(verdict, "p95_duration").text == "p95 duration rq 120.0 ms vs celery 100.0 ms: 1.20x, within 1.50x"
    assert check(verdict, "p95_wait").status == "off"


@pytest.mark.parametrize(
    ("rq_succeeded", "rq_failed", "status", "drop"),
    [(99, 1, GO, 1.0), (98, 2, HOLD, 2.0), (100, 0, GO, 0.0)],
)
def test_success_rate_drop_threshold_is_inclusive(rq_succeeded, rq_failed, status, drop):
    verdict = decide(*sides(figures(100, 0, [100] * 100), figures(rq_succeeded, rq_failed, [100] * rq_succeeded)), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == status
    assert check(verdict, "success_rate").value == drop


def test_success_rate_drop_reason_in_words():
    verdict = decide(*sides(figures(100, 0, [100] * 100), figures(95, 5, [100] * 95)), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.reasons == ["success rate rq 95.00% vs celery 100.00%: 5.00 pp lower, over the 1.00 pp allowed"]


@pytest.mark.parametrize(("rq_p95", "status"), [(150, GO), (151, HOLD)])
def test_p95_ratio_threshold_is_inclusive(rq_p95, status):
    verdict = decide(*sides(figures(20, 0, [100] * 20), figures(20, 0, [rq_p95] * 20)), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == status


def test_thresholds_can_be_set():
    celery, rq = figures(100, 0, [100] * 100), figures(97, 3, [180] * 97)
    assert decide(*sides(celery, rq), Counter(), 0, Thresholds(), HORIZON).status == HOLD
    relaxed = Thresholds(max_success_drop_pp=5, max_p95_ratio=2)
    assert decide(*sides(celery, rq), Counter(), 0, relaxed, HORIZON).status == GO


def test_any_stranded_or_duplicate_job_holds_even_without_enough_data():
    few = figures(2, 0, [100, 100])
    verdict = decide(*sides(few, few), Counter({"rq": 2, "celery": 1}), 0, Thresholds(), HORIZON)
    assert verdict.status == HOLD
    assert verdict.reasons == ["3 stranded jobs (1 on celery, 2 on rq): enqueued, due over 1h00m ago, no terminal event"]
    verdict = decide(*sides(few, few), Counter(), 1, Thresholds(), HORIZON)
    assert (verdict.status, verdict.reasons) == (HOLD, ["1 job id succeeded more than once"])


def test_too_few_samples_is_insufficient_data_not_go():
    verdict = decide(*sides(figures(100, 0, [100] * 100), figures(5, 0, [100] * 5)), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == INSUFFICIENT
    assert verdict.reasons == [
        "success rate not compared: only 5 finished jobs on rq (need 20)",
        "p95 duration not compared: only 5 duration samples on rq (need 20)",
    ]
    assert decide(*sides(figures(100, 0, [100] * 100), figures(5, 0, [100] * 5)), Counter(), 0, Thresholds(min_samples=5), HORIZON).status == GO


def test_a_backend_missing_from_the_queue_is_insufficient_data():
    verdict = decide(Side("celery", "before", figures(50, 0, [100] * 50)), Side("rq", "after", None), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == INSUFFICIENT
    assert verdict.reasons[0] == "success rate not compared: only 0 finished jobs on rq after the split (need 20)"


def test_a_measured_problem_outweighs_missing_data():
    """Rate says hold; durations are too few to compare: still hold."""
    verdict = decide(*sides(figures(100, 0, [100] * 100), figures(50, 50, [100] * 3)), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == HOLD
    assert check(verdict, "p95_duration").status == "insufficient-data"


def test_wait_ratio_is_checked_when_set():
    celery = figures(30, 0, [100] * 30, waits=[10] * 30)
    rq = figures(30, 0, [100] * 30, waits=[40] * 30)
    assert decide(*sides(celery, rq), Counter(), 0, Thresholds(), HORIZON).status == GO
    verdict = decide(*sides(celery, rq), Counter(), 0, Thresholds(max_wait_p95_ratio=2.0, min_p95_gap_ms=0), HORIZON)
    assert verdict.status == HOLD
    assert verdict.reasons == ["p95 wait rq 40.0 ms vs celery 10.0 ms: 4.00x, over the 2.00x allowed"]


def test_zero_baseline_p95():
    verdict = decide(*sides(figures(20, 0, [0] * 20), figures(20, 0, [0] * 20)), Counter(), 0, Thresholds(), HORIZON)
    assert check(verdict, "p95_duration").value == 1.0
    verdict = decide(*sides(figures(20, 0, [0] * 20), figures(20, 0, [1] * 20)), Counter(), 0, Thresholds(min_p95_gap_ms=0), HORIZON)
    assert verdict.status == HOLD and check(verdict, "p95_duration").value == float("inf")


def test_overall_verdict_is_the_worst_queue():
    assert overall([GO, GO]) == GO
    assert overall([GO, INSUFFICIENT]) == INSUFFICIENT
    assert overall([INSUFFICIENT, HOLD, GO]) == HOLD
    assert overall([]) == INSUFFICIENT


def test_p95_over_the_ratio_but_within_the_gap_is_no_hold():
    celery, rq = figures(30, 0, [7] * 30), figures(30, 0, [24] * 30)
    verdict = decide(*sides(celery, rq), Counter(), 0, Thresholds(), HORIZON)
    assert verdict.status == GO
    assert "only 17" in check(verdict, "p95_duration").text
    slow = figures(30, 0, [124] * 30)
    assert decide(*sides(celery, slow), Counter(), 0, Thresholds(), HORIZON).status == HOLD
