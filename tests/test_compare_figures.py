"""compare's figures on logs with known content: every number here is worked out by hand."""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path

import pytest

from taskbridge.compare import Options, analyse
from tests.compare_fixtures import (
    GENERATE,
    INGEST,
    MALFORMED,
    NOTEBOOKS,
    NOW,
    PODCAST,
    REPORT,
    REPORTS,
    epoch,
    known_log,
    split_log,
)


def figures(report, queue, backend, period="all", task=None):
    queue_report = report.queue(queue)
    rows = queue_report.tasks if task else queue_report.backends
    matches = [row for row in rows if row.backend == backend and row.period == period and (task is None or row.task == task)]
    assert len(matches) == 1, matches
    return matches[0].figures


@pytest.fixture(scope="module")
def report():
    return analyse(known_log().shuffled(), now=epoch(NOW), min_samples=3)


def test_counts_rates_and_percentiles_per_backend(report):
    celery = figures(report, PODCAST, "celery")
    assert celery.counts() == {"enqueued": 7, "moved_in": 0, "moved_out": 0, "started": 6, "succeeded": 3, "failed": 1, "retried": 1, "cancelled": 1, "skipped": 0}
    assert celery.success_rate == 0.75
    assert (celery.duration.count, celery.duration.p50, celery.duration.p95, celery.duration.p99) == (3, 2000, 3000, 3000)
    assert (celery.wait.count, celery.wait.p50, celery.wait.p95) == (6, 200, 1000)
    assert celery.errors == [("ValueError", 1)]
    assert celery.retry_errors == [("TimeoutError", 1)]
    assert celery.cancel_phases == [("queued", 1)]

    rq = figures(report, PODCAST, "rq")
    assert rq.counts() == {"enqueued": 7, "moved_in": 0, "moved_out": 0, "started": 5, "succeeded": 4, "failed": 2, "retried": 0, "cancelled": 0, "skipped": 2}
    assert rq.success_rate == pytest.approx(4 / 6)
    assert (rq.duration.count, rq.duration.p50, rq.duration.p95, rq.duration.p99) == (4, 500, 5000, 5000)
    assert (rq.wait.count, rq.wait.p50, rq.wait.p95) == (5, 100, 400)
    assert rq.errors == [("KeyError", 2)]
    assert rq.skip_reasons == [("duplicate job id", 1), ("periodic tick owned by celery", 1)]


def test_per_task_rows(report):
    rows = [(row.queue, row.task, row.backend) for queue in report.queues for row in queue.tasks]
    assert rows == [
        (NOTEBOOKS, INGEST, "celery"),
        (PODCAST, GENERATE, "celery"),
        (PODCAST, GENERATE, "rq"),
        (REPORTS, REPORT, "celery"),
        (REPORTS, REPORT, "rq"),
    ]
    notebooks = figures(report, NOTEBOOKS, "celery", task=INGEST)
    assert (notebooks.enqueued, notebooks.started, notebooks.succeeded) == (2, 3, 3)
    assert (notebooks.duration.p50, notebooks.duration.p95) == (60, 70)
    reports_rq = figures(report, REPORTS, "rq", task=REPORT)
    assert (reports_rq.duration.p50, reports_rq.duration.p95, reports_rq.wait.p50) == (120, 160, 20)


def test_stranded_pending_and_duplicates(report):
    stranded = [(job.job_id, job.queue, job.backend, job.last_seen, round(job.age, 6)) for job in report.stranded]
    assert stranded == [("r5", PODCAST, "rq", "queued", 3692.0), ("c7", PODCAST, "celery", "started", 3650.0)]
    assert dict(report.pending) == {(PODCAST, "celery"): 1, (PODCAST, "rq"): 1}
    assert [(job.job_id, job.queue, job.backends, job.successes) for job in report.duplicates] == [("r6", PODCAST, ("rq",), 2)]
    assert report.jobs == 24
    assert report.jobs_without_enqueue == 1
    podcast = report.queue(PODCAST)
    assert (podcast.stranded, podcast.pending, podcast.duplicates) == (2, 2, 1)


def test_skipped_job_ids_are_never_stranded(report):
    assert "tick-1" not in {job.job_id for job in report.stranded}
    assert sum(report.pending.values()) == 2


def test_a_delayed_job_is_judged_from_its_eta():
    """c6 was enqueued 3700 s before now but is due at 3000 s: pending, not stranded. With no eta it would be stranded."""
    log = known_log()
    without_eta = [line.replace(', "eta": "2025-01-06T12:50:00.000000Z", "countdown": 3000', "") for line in log.lines]
    assert without_eta != log.lines
    report = analyse(without_eta, now=epoch(NOW))
    assert "c6" in {job.job_id for job in report.stranded}


def test_horizon_and_now_decide_stranded():
    report = analyse(known_log().lines, now=epoch(NOW), horizon="1d")
    assert report.stranded == []
    assert sum(report.pending.values()) == 4
    report = analyse(known_log().lines)  # now = last timestamp in the log (t=200): everything is recent
    assert report.now == epoch(200)
    assert report.stranded == []


def test_malformed_unknown_and_newer_lines_are_counted(report):
    summary = report.input
    total = len(known_log().lines)
    assert summary.lines == total
    assert summary.blank_lines == 1
    assert dict(summary.malformed) == MALFORMED
    assert dict(summary.unknown_events) == {"task.teleported": 1}
    assert dict(summary.newer_version) == {3: 1}
    assert summary.events == total - 1 - sum(MALFORMED.values()) - 1 - 1
    assert len(summary.malformed_examples) == sum(MALFORMED.values())


def reason_of(line: str) -> str:
    """What the malformed lines of known_log() are, by their text."""
    if line == "[1, 2]":
        return "not a JSON object"
    if "yesterday" in line:
        return "invalid timestamp"
    if line.startswith('{"v": 1'):
        return "missing event"
    if line.startswith('{"event": "task.succeeded", "v": 1, "timestamp": "2025-01-06T12:00:01'):
        return "missing job_id"
    return "invalid JSON"


def test_malformed_examples_name_the_line():
    lines = known_log().shuffled()
    report = analyse(lines)
    assert len(report.input.malformed_examples) == sum(MALFORMED.values())
    for source, number, reason in report.input.malformed_examples:
        assert source == "<lines>"
        assert reason_of(lines[number - 1]) == reason


def test_order_of_lines_does_not_matter():
    log = known_log()
    in_order = analyse(log.lines, now=epoch(NOW), min_samples=3).as_dict()
    for seed in (1, 2, 3):
        shuffled = analyse(log.shuffled(seed), now=epoch(NOW), min_samples=3).as_dict()
        shuffled["input"]["malformed"]["examples"] = in_order["input"]["malformed"]["examples"]
        assert shuffled == in_order


def test_files_gzip_and_several_sources_give_the_same_report(tmp_path: Path):
    lines = known_log().shuffled()
    half = len(lines) // 2
    plain = tmp_path / "web.log"
    plain.write_text("\n".join(lines[:half]) + "\n")
    zipped = tmp_path / "workers.log.gz"  # the name does not matter: gzip is recognised by content
    zipped.write_bytes(gzip.compress(("\n".join(lines[half:]) + "\n").encode()))
    expected = analyse(lines, now=epoch(NOW)).as_dict()
    got = analyse([plain, zipped], now=epoch(NOW)).as_dict()
    assert got["input"]["sources"] == [str(plain), str(zipped)]
    for key in ("queues", "stranded", "duplicates", "pending", "jobs"):
        assert got[key] == expected[key]
    assert got["input"]["malformed"]["by_reason"] == expected["input"]["malformed"]["by_reason"]
    one_file = tmp_path / "all.log"
    one_file.write_text("\n".join(lines) + "\n")
    assert analyse(str(one_file), now=epoch(NOW)).as_dict()["queues"] == expected["queues"]
    assert analyse(io.BytesIO(gzip.compress(one_file.read_bytes())), now=epoch(NOW)).as_dict()["queues"] == expected["queues"]


def test_worker_processes_give_the_same_report_as_one_process(tmp_path: Path):
    path = tmp_path / "events.log"
    path.write_text(known_log().text() * 3)
    serial = analyse(str(path), now=epoch(NOW), workers=1, block_size=512).as_dict()
    for workers in (2, 3):  # this process parses the blocks the workers' queue has no room for
        assert analyse(str(path), now=epoch(NOW), workers=workers, block_size=512).as_dict() == serial
    assert serial["input"]["lines"] == 3 * len(known_log().lines)
    assert serial["input"]["malformed"]["total"] == 3 * sum(MALFORMED.values())
    examples = serial["input"]["malformed"]["examples"]
    assert len(examples) == 10  # the first ten are kept
    lines = path.read_text().split("\n")
    for example in examples:
        assert reason_of(lines[example["line"] - 1]) == example["reason"]


def test_queue_and_task_filters():
    report = analyse(known_log().lines, now=epoch(NOW), queues=[REPORTS])
    assert [queue.queue for queue in report.queues] == [REPORTS]
    assert report.stranded == [] and report.duplicates == []
    by_pattern = analyse(known_log().lines, now=epoch(NOW), tasks=["notebooks.*"])
    assert [queue.queue for queue in by_pattern.queues] == [NOTEBOOKS]


def test_filtered_out_count_is_exact():
    log = known_log()
    everything = analyse(log.lines, now=epoch(NOW))
    only_reports = analyse(log.lines, now=epoch(NOW), queues=[REPORTS])
    other_events = sum(
        row.figures.enqueued + row.figures.started + row.figures.succeeded + row.figures.failed + row.figures.retried + row.figures.cancelled + row.figures.skipped
        for queue in everything.queues if queue.queue != REPORTS for row in queue.backends
    )
    assert only_reports.input.filtered_out == other_events


def test_since_and_until_select_events_but_jobs_keep_their_later_events():
    log = known_log()
    report = analyse(log.lines, now=epoch(NOW), since=epoch(0), until=epoch(10))
    celery = figures(report, PODCAST, "celery")
    # c1 (enqueued 0, started 1, succeeded 2) and c6 (enqueued 0) are in [0, 10); c2 is enqueued at 10
    assert celery.counts() == {"enqueued": 2, "moved_in": 0, "moved_out": 0, "started": 1, "succeeded": 1, "failed": 0, "retried": 0, "cancelled": 0, "skipped": 0}
    rq = figures(report, PODCAST, "rq")
    # r1..r6 enqueued; r2 succeeds at 10.4, outside the window, yet r2 is not stranded
    assert rq.enqueued == 6 and rq.succeeded == 3
    assert [job.job_id for job in report.stranded] == ["r5"]
    assert report.input.outside_window > 0


def test_split_at_route_change():
    report = analyse(split_log().shuffled(), split_at="route-change", min_samples=5)
    podcast = report.queue(PODCAST)
    assert podcast.split_at == epoch(100) and podcast.split_source == "route.changed"
    before = figures(report, PODCAST, "celery", "before")
    after_rq = figures(report, PODCAST, "rq", "after")
    late_celery = figures(report, PODCAST, "celery", "after")
    assert (before.succeeded, before.duration.p50, before.duration.p95) == (5, 300, 500)
    assert (after_rq.succeeded, after_rq.duration.p50, after_rq.duration.p95) == (5, 400, 600)
    assert (late_celery.succeeded, late_celery.duration.p95) == (1, 50)
    assert [(row.backend, row.period) for row in podcast.backends] == [("celery", "before"), ("celery", "after"), ("rq", "after")]
    verdict = podcast.verdict
    assert (verdict.baseline.backend, verdict.baseline.period, verdict.candidate.backend, verdict.candidate.period) == ("celery", "before", "rq", "after")
    assert verdict.status == "go"
    assert next(check for check in verdict.checks if check.name == "p95_duration").value == pytest.approx(1.2)
    reports = report.queue(REPORTS)
    assert reports.split_at is None
    assert reports.verdict.status == "go"
    assert "no route.changed event for this queue" in reports.verdict.reasons[-1]
    assert [(change.queue, change.source, change.target, change.user) for change in report.route_changes] == [(PODCAST, "celery", "rq", "ops")]


def test_split_at_a_time():
    report = analyse(split_log().lines, split_at="2025-01-06T12:01:40Z", min_samples=5)
    assert report.queue(PODCAST).split_at == epoch(100)
    assert report.queue(REPORTS).split_at == epoch(100)
    assert report.queue(REPORTS).verdict.status == "insufficient-data"  # all of reports is before 100 s: no rq after


def test_empty_input():
    report = analyse([])
    assert report.queues == [] and report.verdict == "insufficient-data"
    assert report.input.lines == 0 and report.now is None


def test_options_are_validated():
    with pytest.raises(ValueError):
        Options.build(since="2025-01-02", until="2025-01-01")
    with pytest.raises(ValueError):
        Options.build(horizon="soon")
    with pytest.raises(TypeError):
        Options.build(colour="red")
    assert Options.build(horizon="90m").horizon == 5400
    assert math.isinf(Options.build().window[0])


def test_worker_processes_number_example_lines_per_source(tmp_path: Path):
    """Blocks of several files spread over the processes: each example's line is its own file's."""
    first, second = tmp_path / "web.log", tmp_path / "workers.log"
    first.write_text(known_log().text())
    second.write_text(("\n" * 7) + known_log().text())
    serial = analyse([first, second], now=epoch(NOW), workers=1, block_size=256).as_dict()
    parallel = analyse([first, second], now=epoch(NOW), workers=3, block_size=256).as_dict()
    assert parallel == serial
    files = {str(first): first.read_text().split("\n"), str(second): second.read_text().split("\n")}
    examples = serial["input"]["malformed"]["examples"]
    assert {example["source"] for example in examples} == set(files)
    for example in examples:
        assert reason_of(files[example["source"]][example["line"] - 1]) == example["reason"]
