"""compare and ``task.moved``: moves counted per backend, a moved job judged on the backend it was last moved to."""

from __future__ import annotations

import json

import pytest

from taskbridge.compare import analyse
from taskbridge.compare.reading.reader import MOVE_IN, MOVE_OUT, ParseSpec, Partial, parse_lines
from taskbridge.compare.rendering.html import render_html
from taskbridge.compare.rendering.json import render_json
from taskbridge.compare.rendering.markdown import render_markdown
from taskbridge.compare.rendering.text import render_text
from tests.compare_fixtures import GENERATE, PODCAST, REPORT, REPORTS, Log, epoch

HOUR = 3600.0


def row(report, backend, queue=PODCAST):
    return next(line for line in report.queue(queue).backends if line.backend == backend).figures


def moved_and_run() -> Log:
    """j1: enqueued on rq, moved to celery, run there; j2: an ordinary job on each side."""
    log = Log()
    log.enqueue(0, "j1", PODCAST, GENERATE, "rq")
    log.move(10, "j1", PODCAST, GENERATE, "rq", "celery")
    log.run(11, "j1", PODCAST, GENERATE, "celery", wait_ms=1000, duration_ms=200)
    log.ok(1, "j2", PODCAST, GENERATE, "rq", wait_ms=50, duration_ms=100)
    log.ok(2, "j3", PODCAST, GENERATE, "celery", wait_ms=50, duration_ms=100)
    return log


def test_a_job_moved_and_run_belongs_to_the_backend_it_moved_to():
    report = analyse(moved_and_run().shuffled(), now=epoch(2 * HOUR))
    assert report.stranded == [] and not report.pending
    rq, celery = row(report, "rq"), row(report, "celery")
    assert (rq.enqueued, rq.moved_in, rq.moved_out, rq.succeeded) == (2, 0, 1, 1)
    assert (celery.enqueued, celery.moved_in, celery.moved_out, celery.succeeded) == (1, 1, 0, 2)
    for figures in (rq, celery):  # every job enqueued or moved in has ended where it was last
        assert figures.enqueued + figures.moved_in - figures.moved_out == figures.succeeded
    assert report.input.not_analysed == {} and report.input.malformed_total == 0
    assert report.queue(PODCAST).verdict.checks[0].status == "pass"


def test_moves_are_shown_in_every_output():
    report = analyse(moved_and_run().lines, now=epoch(2 * HOUR))
    data = json.loads(render_json(report))
    assert data["version"] == 2
    by_backend = {line["backend"]: line for line in data["queues"][0]["backends"]}
    assert (by_backend["rq"]["moved_in"], by_backend["rq"]["moved_out"]) == (0, 1)
    assert (by_backend["celery"]["moved_in"], by_backend["celery"]["moved_out"]) == (1, 0)
    assert data["queues"][0]["tasks"][0]["moved_in"] + data["queues"][0]["tasks"][1]["moved_in"] == 1
    text = render_text(report).splitlines()
    header = next(line for line in text if line.startswith("queue") and "moved in" in line).split()
    celery = next(line for line in text if line.startswith(PODCAST) and line.split()[1] == "celery").split()
    assert celery[2:5] == ["1", "1", "0"] and header[2:6] == ["enq", "moved", "in", "moved"]
    assert "| moved in | moved out |" in render_markdown(report)
    assert "<th>moved in</th><th>moved out</th>" in render_html(report)


def test_a_moved_job_never_started_is_pending_then_stranded_on_the_backend_it_moved_to():
    log = Log()
    log.enqueue(0, "j1", PODCAST, GENERATE, "rq")
    log.move(1800, "j1", PODCAST, GENERATE, "rq", "celery")
    pending = analyse(log.lines, now=epoch(1800 + HOUR - 1))  # enqueued over 1 h ago, moved under 1 h ago: celery has had it since the move
    assert pending.stranded == [] and dict(pending.pending) == {(PODCAST, "celery"): 1}
    stranded = analyse(log.lines, now=epoch(1800 + HOUR + 1))
    assert [(job.job_id, job.backend, job.last_seen, job.due_at) for job in stranded.stranded] == [("j1", "celery", "queued", epoch(1800))]
    assert stranded.queue(PODCAST).verdict.checks[0].text.startswith("1 stranded job (1 on celery)")
    assert not stranded.pending


def test_a_move_with_an_eta_is_due_at_its_eta():
    log = Log()
    log.enqueue(0, "j1", PODCAST, GENERATE, "rq", eta="2025-01-06T14:00:00Z")
    log.move(60, "j1", PODCAST, GENERATE, "rq", "celery", state="scheduled", eta="2025-01-06T15:00:00+00:00")
    assert analyse(log.lines, now=epoch(3 * HOUR + HOUR - 1)).stranded == []
    [job] = analyse(log.lines, now=epoch(3 * HOUR + HOUR + 1)).stranded
    assert (job.backend, job.due_at) == ("celery", epoch(3 * HOUR))


@pytest.mark.parametrize("finished", [False, True])
def test_a_job_moved_twice_belongs_to_its_latest_move_by_time(finished):
    log = Log()
    log.enqueue(0, "j1", PODCAST, GENERATE, "rq")
    log.move(20, "j1", PODCAST, GENERATE, "celery", "rq", generation=2)  # written first, happened last
    log.move(10, "j1", PODCAST, GENERATE, "rq", "celery", generation=1)
    if finished:
        log.run(30, "j1", PODCAST, GENERATE, "rq", wait_ms=10, duration_ms=10)
    report = analyse(log.lines, now=epoch(20 + HOUR + 1))
    rq, celery = row(report, "rq"), row(report, "celery")
    assert (rq.enqueued, rq.moved_in, rq.moved_out) == (1, 1, 1)
    assert (celery.enqueued, celery.moved_in, celery.moved_out) == (0, 1, 1)
    if finished:
        assert report.stranded == [] and rq.succeeded == 1
    else:
        assert [(job.job_id, job.backend) for job in report.stranded] == [("j1", "rq")]


def test_v1_and_v2_lines_mixed():
    log = Log()
    log.enqueue(0, "old", PODCAST, GENERATE, "rq", v=1)
    log.run(1, "old", PODCAST, GENERATE, "rq", wait_ms=1000, duration_ms=10)
    log.enqueue(2, "j1", PODCAST, GENERATE, "rq", v=1)  # enqueued by a v1 writer, moved by a v2 one
    log.move(3, "j1", PODCAST, GENERATE, "rq", "celery")
    log.task("task.started", 4, "j1", PODCAST, GENERATE, "celery", v=1, wait_ms=1000)
    log.task("task.succeeded", 5, "j1", PODCAST, GENERATE, "celery", duration_ms=1000)
    report = analyse(log.shuffled(), now=epoch(2 * HOUR))
    assert report.input.events == len(log.lines) and report.input.malformed_total == 0 and report.input.newer_total == 0
    assert report.stranded == [] and report.jobs == 2
    assert (row(report, "rq").moved_out, row(report, "celery").moved_in, row(report, "celery").succeeded) == (1, 1, 1)


def test_bad_move_lines_are_counted_not_used():
    log = Log()
    log.enqueue(0, "j1", PODCAST, GENERATE, "rq")
    log.task("task.moved", 1, "j1", PODCAST, GENERATE, "celery")  # no "from"
    log.move(2, "j1", PODCAST, GENERATE, 7, "celery")
    log.move(3, "j1", PODCAST, GENERATE, "rq", 7)
    part = parse_lines(log.lines, ParseSpec())
    assert dict(part.malformed) == {"missing from": 1, "invalid field type": 2}
    assert part.moves == {} and (MOVE_IN, PODCAST, GENERATE, "celery") not in part.series


def test_filters_and_window_apply_to_moves():
    log = Log()
    log.enqueue(0, "j1", REPORTS, REPORT, "rq")
    log.move(10, "j1", REPORTS, REPORT, "rq", "celery")
    log.enqueue(0, "j2", PODCAST, GENERATE, "rq")
    log.move(500, "j2", PODCAST, GENERATE, "rq", "celery")
    part = parse_lines(log.lines, ParseSpec(queues=(PODCAST,), until=epoch(100)))
    assert part.filtered_out == 2 and part.outside_window == 1
    assert part.moves == {"j2": (epoch(500), epoch(500), (PODCAST, GENERATE, "celery"))}  # a later move still decides where the job is
    assert (MOVE_OUT, PODCAST, GENERATE, "rq") not in part.series


def test_a_move_without_its_enqueue_is_a_job_without_enqueue():
    log = Log()
    log.move(10, "j1", PODCAST, GENERATE, "rq", "celery")
    report = analyse(log.lines, now=epoch(2 * HOUR))
    assert (report.jobs, report.jobs_without_enqueue, report.stranded) == (0, 1, [])


def test_partials_with_moves_merge_to_the_whole_in_any_order():
    log = Log()
    log.enqueue(0, "j1", PODCAST, GENERATE, "rq")
    for step, (source, target) in enumerate([("rq", "celery"), ("celery", "rq"), ("rq", "celery")]):
        log.move(10 + step, "j1", PODCAST, GENERATE, source, target, generation=step + 1)
    log.move(10, "j2", PODCAST, GENERATE, "rq", "celery")
    log.move(10, "j2", PODCAST, GENERATE, "celery", "rq")  # two moves at one instant: the merge must still agree
    lines = log.shuffled()
    whole = parse_lines(lines, ParseSpec())
    for cut in range(1, len(lines)):
        for blocks in ((lines[:cut], lines[cut:]), (lines[cut:], lines[:cut])):
            merged = Partial()
            for block in blocks:
                merged.merge(parse_lines(block, ParseSpec()))
            assert merged.moves == whole.moves
            assert {key: sorted(stored[0]) for key, stored in merged.series.items()} == {key: sorted(stored[0]) for key, stored in whole.series.items()}
    assert whole.moves["j1"][2][2] == "celery"
