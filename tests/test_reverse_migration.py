"""The roles are settings, not code: with RQ as the baseline and Celery as the candidate, a
flag's Yes sends work to Celery, and compare judges Celery against RQ. Real workers."""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest
from django.core.management import call_command

import taskbridge
from taskbridge.compare import analyse
from tests.taskapp import tasks

pytestmark = pytest.mark.integration


def _dispatch(count: int) -> list[taskbridge.TaskHandle]:
    handles = [tasks.add.enqueue(i, 1) for i in range(count)]
    for i, handle in enumerate(handles):
        assert handle.result(timeout=30) == i + 1
    return handles


def test_the_migration_runs_the_other_way_by_swapping_the_roles(transactional_db, workers, event_log, settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "BASELINE": "rq", "CANDIDATE": "celery"}
    since = time.time()

    taskbridge.set_route("default", "baseline", reason="reverse migration: start")
    assert {h.backend for h in _dispatch(12)} == {"rq"}
    taskbridge.set_route("default", "candidate", reason="reverse migration: move default")
    assert {h.backend for h in _dispatch(12)} == {"celery"}
    taskbridge.set_route("default", 50)
    assert {h.backend for h in _dispatch(40)} == {"celery", "rq"}
    taskbridge.set_route("default", "baseline", reason="reverse migration: back")

    report = analyse(event_log.path, since=since, queues=["default"])
    [queue] = report.queues
    assert (queue.verdict.baseline.backend, queue.verdict.candidate.backend) == ("rq", "celery")
    out = io.StringIO()
    iso = dt.datetime.fromtimestamp(since, dt.timezone.utc).isoformat()
    call_command("taskbridge", "compare", str(event_log.path), "--since", iso, "--queue", "default", stdout=out)
    assert "candidate (celery) against baseline (rq)" in out.getvalue()
    changes = {e.get("reason"): (e["from"], e["to"]) for e in event_log.all() if e["event"] == "route.changed"}
    assert changes["reverse migration: move default"] == ("rq", "celery")
    assert changes["reverse migration: back"] == ("celery 50%", "rq")
