"""compare's reader: what counts as an event, what is counted as malformed, and that parsing is order- and block-independent."""

from __future__ import annotations

import io
import json

import pytest

from taskbridge.compare import analyse
from taskbridge.compare.reading.reader import ENQ, SUCC, ParseSpec, Partial, parse_bytes, parse_lines, parse_text
from taskbridge.compare.judging.stats import percentile
from taskbridge.compare.times import format_iso, parse_duration, parse_iso, parse_timestamp
from taskbridge.events import SUCCEEDED
from tests.compare_fixtures import GENERATE, PODCAST, Log, epoch, known_log, stamp


def task_line(**fields) -> str:
    event = {"backend": "rq", "queue": PODCAST, "task": GENERATE, "job_id": "j1", "attempt": 1, "event": SUCCEEDED, "v": 1, "timestamp": stamp(1), "duration_ms": 5.0}
    event.update(fields)
    return json.dumps({key: value for key, value in event.items() if value is not None})


def parse(lines) -> Partial:
    return parse_lines(lines, ParseSpec())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-06T12:00:01.250000Z", epoch(1.25)),
        ("2025-01-06T12:00:01Z", epoch(1)),
        ("2025-01-06T13:00:01.250000+01:00", epoch(1.25)),
        ("2025-01-06T12:00:01.25", epoch(1.25)),
        ("2025-01-06", epoch(-12 * 3600)),
    ],
)
def test_timestamps_in_any_iso_form(text, expected):
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)
    part = parse([task_line(timestamp=text)])
    assert (part.first_at, part.events) == (pytest.approx(expected, abs=1e-6), 1)


@pytest.mark.parametrize("text", ["yesterday", "2025-01-06T12:00:0x.250000Z", "2025-13-06T12:00:01.000000Z", "Z", "", 1736164801, None, ["Z"], {"Z": 1}])
def test_bad_timestamps(text):
    assert parse_timestamp(text) is None
    expected = "missing timestamp" if text is None else "invalid timestamp"  # task_line leaves None fields out
    assert dict(parse([task_line(timestamp=text)]).malformed) == {expected: 1}


def test_canonical_timestamps_round_trip_exactly():
    for micro in (0, 1, 999999, 123456):
        text = f"2025-01-06T12:00:01.{micro:06d}Z"
        part = parse([task_line(timestamp=text)])
        assert format_iso(part.first_at) == text


def test_durations():
    assert [parse_duration(text) for text in ("90", "90s", "15m", "2h", "1d", "1w", "250ms")] == [90, 90, 900, 7200, 86400, 604800, 0.25]
    with pytest.raises(ValueError):
        parse_duration("2 hours")
    assert parse_iso("2025-01-06T12:00:00Z") == epoch(0)


def test_nearest_rank_percentiles():
    values = list(range(1, 11))
    assert [percentile(values, p) for p in (50, 95, 99)] == [5, 10, 10]
    assert percentile([7.0], 50) == 7.0
    assert percentile([], 50) is None
    assert percentile(list(range(1, 101)), 95) == 95


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "invalid JSON"),
        ('{"event": "task.succeeded", "v": 1', "invalid JSON"),
        ('{"a": 1}{"b": 2}', "invalid JSON"),
        ("42", "not a JSON object"),
        ('"text"', "not a JSON object"),
        ("null", "not a JSON object"),
        ('{"v": 1, "timestamp": "2025-01-06T12:00:00.000000Z"}', "missing event"),
        ('{"event": "task.succeeded", "v": 1}', "missing timestamp"),
        ('{"event": "task.succeeded", "timestamp": "2025-01-06T12:00:00.000000Z"}', "missing v"),
        (task_line(v="1"), "unsupported v"),
        (task_line(v=0), "unsupported v"),
        (task_line(timestamp="soon"), "invalid timestamp"),
        (task_line(event=["task.succeeded"]), "invalid event name"),
        (task_line(event=7), "invalid event name"),
        (task_line(job_id=None), "missing job_id"),
        (task_line(queue=None), "missing queue"),
        (task_line(job_id=12), "invalid field type"),
        (task_line(queue=["podcast"]), "invalid field type"),
        (task_line(backend={"name": "rq"}), "invalid field type"),
    ],
)
def test_malformed_lines_are_counted_with_their_reason(line, reason):
    for lines in ([line], [task_line(job_id="ok-1"), line, task_line(job_id="ok-2")]):
        part = parse(lines)
        assert dict(part.malformed) == {reason: 1}
        assert part.events == len(lines) - 1
        assert len(part.succeeded) == len(lines) - 1


def test_one_bad_line_does_not_cost_its_batch():
    lines = [task_line(job_id=f"j{index}") for index in range(2500)]
    lines[1234] = "oops"
    part = parse(lines)
    assert (part.malformed["invalid JSON"], len(part.succeeded), part.examples) == (1, 2499, [("<lines>", 1235, "invalid JSON")])


def test_a_crafted_batch_with_two_values_on_one_line_is_parsed_line_by_line():
    lines = [task_line(job_id="a"), task_line(job_id="b") + "," + task_line(job_id="c"), "{"]
    part = parse(lines)
    assert set(part.succeeded) == {"a"}
    assert part.malformed["invalid JSON"] == 2


def test_blank_lines_crlf_and_text_blocks():
    text = "\r\n".join([task_line(job_id="a"), "", "   ", task_line(job_id="b")]) + "\r\n"
    part = parse_text(text.replace("\r\n", "\n"), ParseSpec())
    assert (part.lines, part.blank, part.events, set(part.succeeded)) == (4, 2, 2, {"a", "b"})
    part = parse_text(text, ParseSpec())
    assert (part.lines, part.blank, part.events, set(part.succeeded)) == (4, 2, 2, {"a", "b"})


def test_invalid_utf8_lines_are_counted(tmp_path):
    path = tmp_path / "events.log"
    path.write_bytes(task_line(job_id="a").encode() + b"\n" + b'{"event": "\xff\xfe"}\n' + task_line(job_id="b").encode() + b"\n")
    report = analyse(str(path))
    assert dict(report.input.malformed) == {"invalid UTF-8": 1}
    assert report.input.malformed_examples == [(str(path), 2, "invalid UTF-8")]
    assert report.input.events == 2


def test_newer_schema_and_unknown_events_are_counted_not_used():
    lines = [task_line(v=3), task_line(v=4, job_id="x"), task_line(event="task.exploded"), task_line(job_id="ok"),
             task_line(v=1, job_id="v1")]
    part = parse(lines)
    assert dict(part.newer) == {3: 1, 4: 1}
    assert dict(part.unknown) == {"task.exploded": 1}
    assert set(part.succeeded) == {"ok", "v1"}  # a v1 line (before task.moved existed) means what it meant
    assert part.events == 2


def test_missing_or_odd_values_are_left_out_of_percentiles_not_the_counts():
    lines = [
        task_line(job_id="a", duration_ms=10),
        task_line(job_id="b", duration_ms=None),
        task_line(job_id="c", duration_ms="fast"),
        task_line(job_id="d", duration_ms=True),
        '{"backend": "rq", "queue": "podcast", "task": "%s", "job_id": "e", "event": "task.succeeded", "v": 1, "timestamp": "%s", "duration_ms": NaN}' % (GENERATE, stamp(1)),
        task_line(job_id="f", duration_ms=20.5),
        task_line(event="task.failed", job_id="g", duration_ms=1, error_type=None),
    ]
    report = analyse(lines, min_samples=1)
    figures = report.queue(PODCAST).backends[0].figures
    assert figures.succeeded == 6
    assert (figures.duration.count, figures.duration.p50, figures.duration.p95) == (2, 10, 20.5)
    assert figures.errors == [("(none)", 1)]


def test_route_changed_events():
    log = Log()
    log.event("route.changed", 5, flag="taskbridge.queue.podcast", queue=PODCAST, **{"from": "celery", "to": "rq 25%"}, user="alice")
    log.event("route.changed", 6, flag="taskbridge.task.x", task=GENERATE, **{"from": "default", "to": "rq"})
    part = parse(log.lines)
    assert part.route_changes == [
        (epoch(5), "taskbridge.queue.podcast", PODCAST, None, "celery", "rq 25%", "alice"),
        (epoch(6), "taskbridge.task.x", None, GENERATE, "default", "rq", None),
    ]
    assert part.events == 2 and not part.malformed


def test_partials_merge_to_the_whole_whatever_the_cut():
    lines = known_log().shuffled()
    whole = parse(lines)
    for cut in (1, 17, len(lines) // 2, len(lines) - 3):
        merged = parse(lines[:cut])
        merged.merge(parse(lines[cut:]), line_offset=cut)
        assert {job: merged.enqueue_of(job) for job in merged.enqueued} == {job: whole.enqueue_of(job) for job in whole.enqueued}
        assert merged.succeeded == whole.succeeded
        assert {job: len(extra) for job, extra in merged.extra_successes.items()} == {job: len(extra) for job, extra in whole.extra_successes.items()}
        assert merged.ended == whole.ended and merged.started == whole.started and merged.retry_due == whole.retry_due
        assert merged.malformed == whole.malformed and merged.lines == whole.lines and merged.blank == whole.blank
        assert sorted(merged.examples) == sorted(whole.examples)
        for key, (times, values, labels) in whole.series.items():
            other = merged.series[key]
            assert sorted(other[0]) == sorted(times)
            if values is not None:
                assert sorted(map(repr, other[1])) == sorted(map(repr, values))
            if labels is not None:
                assert sorted(other[2]) == sorted(labels)
        assert (merged.first_at, merged.last_at) == (whole.first_at, whole.last_at)


def test_a_job_enqueued_twice_keeps_its_first_enqueue_and_latest_due():
    log = Log()
    log.enqueue(10, "j", PODCAST, GENERATE, "celery", countdown=100)
    log.enqueue(5, "j", PODCAST, GENERATE, "rq")
    part = parse(log.shuffled())
    assert part.enqueue_of("j") == (epoch(5), epoch(110), (PODCAST, GENERATE, "rq"))
    assert part.series[(ENQ, PODCAST, GENERATE, "celery")][0].tolist() == [epoch(10)]
    assert (SUCC, PODCAST, GENERATE, "rq") not in part.series


def test_inputs_the_api_accepts(tmp_path):
    lines = [task_line(job_id=f"j{index}") for index in range(3)]
    path = tmp_path / "e.log"
    path.write_text("\n".join(lines) + "\n")
    expected = analyse(lines).as_dict()["queues"]
    assert analyse([line.encode() for line in lines]).as_dict()["queues"] == expected
    assert analyse(io.StringIO("\n".join(lines))).as_dict()["queues"] == expected
    assert analyse(open(path, "rb")).as_dict()["queues"] == expected
    assert analyse(path).as_dict()["queues"] == expected
    assert analyse(iter(lines)).as_dict()["queues"] == expected
    with pytest.raises(FileNotFoundError):
        analyse(tmp_path / "missing.log")


def _same_partial(one: Partial, other: Partial) -> None:
    assert (one.lines, one.blank, one.events, one.malformed, one.examples) == (other.lines, other.blank, other.events, other.malformed, other.examples)
    assert (one.enqueued, one.succeeded, one.ended, one.started) == (other.enqueued, other.succeeded, other.ended, other.started)
    assert {key: tuple(stored[0]) for key, stored in one.series.items()} == {key: tuple(stored[0]) for key, stored in other.series.items()}


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_bytes_parsed_in_place_across_batches_match_lines(trailing_newline):
    lines = [task_line(job_id=f"j{index}", timestamp=stamp(index)) for index in range(1500)]  # about 200 bytes a line: several 32 KiB batches
    lines[0] = "oops"  # bad lines in the first batch, a middle one, at a batch's edge and last
    lines[700] = task_line(job_id="a") + "," + task_line(job_id="b")
    lines[701] = ""
    lines[-1] = '{"event": "task.succeeded", "v": 1, "timestamp": "2025-11-28T'
    data = "\n".join(lines).encode() + (b"\n" if trailing_newline else b"")
    _same_partial(parse_bytes(data, ParseSpec(), source="<lines>"), parse(lines))
    assert parse_bytes(data, ParseSpec()).malformed == {"invalid JSON": 3}
