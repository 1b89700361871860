"""compare judges by role: the backend names come from the caller or the settings, and the live guard's
entry point (``judge_events``) gives the report ``analyse`` gives for the same events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskbridge.compare import MissingRoles, Options, analyse, judge_events
from taskbridge.compare.rendering.html import render_html
from taskbridge.compare.rendering.svg import ROLE_COLOURS
from taskbridge.compare.rendering.text import render_text
from tests.compare_fixtures import NOW, PODCAST, epoch, known_log

ROOT = Path(__file__).resolve().parent.parent


def test_names_come_from_the_settings_when_not_given():
    report = analyse(known_log().lines, now=epoch(NOW), min_samples=3)
    verdict = report.queue(PODCAST).verdict
    assert (verdict.baseline.backend, verdict.candidate.backend) == ("celery", "rq")


def test_swapped_roles_judge_the_other_way():
    report = analyse(known_log().lines, baseline="rq", candidate="celery", now=epoch(NOW), min_samples=3)
    podcast = report.queue(PODCAST)
    assert (podcast.verdict.baseline.backend, podcast.verdict.candidate.backend) == ("rq", "celery")
    assert [row.backend for row in podcast.backends] == ["rq", "celery"]
    assert "success rate celery 75.00% vs rq 66.67%: 8.33 pp higher, within 1.00 pp" in [check.text for check in podcast.verdict.checks]
    assert "candidate (celery) against baseline (rq)" in render_text(report)


def test_report_names_both_roles():
    text = render_text(analyse(known_log().lines, baseline="celery", candidate="rq", now=epoch(NOW), min_samples=3))
    assert "candidate (rq) against baseline (celery)" in text


def test_chart_colours_follow_the_role_not_the_name():
    lines = known_log().lines
    renamed = [line.replace('"backend": "celery"', '"backend": "old"').replace('"backend": "rq"', '"backend": "new"') for line in lines]
    page = render_html(analyse(renamed, baseline="old", candidate="new", now=epoch(NOW), min_samples=3))
    original = render_html(analyse(lines, baseline="celery", candidate="rq", now=epoch(NOW), min_samples=3))
    for colour in ROLE_COLOURS.values():
        assert page.count(colour) == original.count(colour) > 0


def test_module_entry_without_django_needs_the_names(tmp_path: Path):
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(known_log().lines) + "\n")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    command = [sys.executable, "-m", "taskbridge.compare", str(log), "--json"]
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "--baseline and --candidate NAME" in refused.stderr
    named = subprocess.run([*command, "--baseline", "celery", "--candidate", "rq"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["queues"][0]["verdict"]["candidate"]["backend"] == "rq"


def test_library_without_settings_needs_the_names(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("taskbridge.compare.roles.settings_available", lambda: False)
    with pytest.raises(MissingRoles, match="--candidate NAME"):
        analyse(known_log().lines, baseline="celery")
    assert analyse(known_log().lines, baseline="celery", candidate="rq").options.candidate == "rq"


def test_judge_events_is_analyse_over_dicts():
    """The guard's window (event dicts, any order) gets the report the log gets, to the last figure."""
    log = known_log()
    options = Options.build(baseline="celery", candidate="rq", now=epoch(NOW), min_samples=3)
    from_file = analyse(log.lines, options).as_dict()
    events = [_decoded(line) for line in log.shuffled()]
    from_window = judge_events(events, options, source="guard").as_dict()
    window_input, file_input = from_window.pop("input"), from_file.pop("input")
    assert window_input["sources"] == ["guard"]
    assert (window_input["lines"], window_input["events"]) == (file_input["lines"], file_input["events"])
    assert from_window == from_file


def _decoded(line: str) -> object:
    """A log line as the guard's stream would hold it; a broken line stays a string (not an event)."""
    try:
        return json.loads(line)
    except ValueError:
        return line


def test_judge_events_counts_what_is_not_an_event():
    report = judge_events([{"event": "task.succeeded"}, ["not", "a", "dict"], {"event": "task.teleported", "v": 1, "timestamp": "2025-01-06T12:00:00Z"}], baseline="celery", candidate="rq")
    assert dict(report.input.malformed) == {"missing timestamp": 1, "not a JSON object": 1}
    assert dict(report.input.unknown_events) == {"task.teleported": 1}
    assert report.verdict == "insufficient-data"
