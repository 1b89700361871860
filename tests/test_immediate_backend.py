"""The plugin seam, proven by a third backend added as one module: ``immediate`` runs each
job in the dispatching process. The reference workload runs on it unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from notebooks.models import KnowledgeBaseItem
from taskbridge import TaskHandle, TaskStatus
from tests.support.domain import client_for, get_json, make_user, new_notebook, post
from tests.support.workers import ROOT
from tests.taskapp import tasks

IMMEDIATE = {"immediate": {"BACKEND": "taskbridge.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def immediate(settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "BACKENDS": IMMEDIATE, "BASELINE": "immediate", "CANDIDATE": "immediate"}


def _events(event_log, job_id: str) -> list[tuple[str, str, int]]:
    return [(e["event"], e["backend"], e["attempt"]) for e in event_log.all() if e.get("job_id") == job_id]


@pytest.mark.django_db
def test_a_job_runs_before_enqueue_returns_with_the_usual_record_and_events(immediate, event_log):
    handle = tasks.add.enqueue(2, 3)
    assert handle.backend == "immediate"
    assert handle.status() == TaskStatus.SUCCEEDED and handle.result() == 5
    assert _events(event_log, handle.job_id) == [
        ("task.enqueued", "immediate", 1), ("task.started", "immediate", 1), ("task.succeeded", "immediate", 1),
    ]


@pytest.mark.django_db
def test_retries_run_at_once_and_failures_are_recorded_not_raised(immediate, event_log):
    token = uuid.uuid4().hex
    retried = tasks.flaky.enqueue(token, 2)
    assert retried.result() == "ok after 3"
    assert [e for e, _, _ in _events(event_log, retried.job_id)].count("task.retrying") == 2
    failed = tasks.boom.enqueue("no luck")
    assert failed.status() == TaskStatus.FAILED
    assert _events(event_log, failed.job_id)[-1] == ("task.failed", "immediate", 1)
    assert failed.cancel() is False


@pytest.mark.django_db(transaction=True)
def test_the_api_chain_completes_within_the_request(immediate, site):
    client = client_for(make_user("imm"))
    notebook_id = new_notebook(client)
    response = post(client, f"/api/notebooks/{notebook_id}/sources/url/", {"url": site.url("/article.html")})
    assert response.status_code == 202, response.content
    assert TaskHandle.from_string(response.json()["task_handle"]).backend == "immediate"
    item = get_json(client, f"/api/notebooks/{notebook_id}/sources/{response.json()['id']}/")
    assert (item["parsing_status"], item["index_status"]) == ("done", "completed"), item
    assert "A queue is a promise" in KnowledgeBaseItem.objects.get(pk=item["id"]).content


def test_the_reference_workloads_unit_tests_pass_on_the_immediate_backend(tmp_path):
    files = ["tests/test_domain_tasks.py", "tests/test_notebooks_services.py", "tests/test_podcast_generation.py",
             "tests/test_reports_generation.py", "tests/test_api_validation.py", "tests/test_api_permissions.py"]
    # A database of its own (SQLite), whatever this session runs on: a second session on
    # PostgreSQL would ask for the same test database this one holds.
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.immediate_settings", "TASKBRIDGE_TEST_SQLITE": str(database),
           "DATABASE_URL": f"sqlite:///{database}"}
    env.pop("TASKBRIDGE_EVENT_LOG", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not integration", "--ds", "tests.immediate_settings", *files],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]
