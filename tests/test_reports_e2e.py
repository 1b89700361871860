"""End to end, once with every queue on Celery and once on RQ: reports through the HTTP
API on real workers (generation, cancellation, deletion, failure) and the validation task."""

from __future__ import annotations

import time

import pytest
from django.core.files.storage import default_storage

from reports.models import Report
from reports.tasks import validate_report_configuration
from taskbridge import TaskHandle, TaskStatus
from tests.support.domain import (
    BACKENDS, NOTES, client_for, get_json, make_user, new_notebook, parsed_source, parsed_sources, post, route_all, wait_until,
)

pytestmark = pytest.mark.integration

ARTICLE = (
    "Moving queues one at a time\n\n"
    "A flag per queue decides which backend runs its jobs. Operators flip the flag in the admin. "
    "Jobs already queued keep running where they are. A rollback is a flag flip, not a deploy.\n"
)


def _report(client, report_id: int) -> dict:
    return get_json(client, f"/api/reports/{report_id}/")


def _finished(report: dict) -> bool:
    return report["status"] not in ("pending", "running")


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_report_produces_markdown(transactional_db, workers, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    parsed_sources(client, notebook_id, [(ARTICLE, "migration.txt"), (NOTES, "notes.txt")])

    config = {"title": "Migration notes", "topic": "rollback flag", "sections": 3, "style": "detailed"}
    response = post(client, "/api/reports/", {"notebook": notebook_id, "config": config})
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["status"] == "pending" and started["task"]["handle"].startswith(f"{backend}:reports:")
    assert started["configuration"]["include_sources"] is True  # normalised

    final = wait_until(lambda: _report(client, started["id"]), _finished)
    assert final["status"] == "completed", final["error"]
    assert final["progress"] == 3 and final["task"]["status"] == "succeeded"
    report = Report.objects.get(pk=started["id"])
    with default_storage.open(report.markdown_file.name, "rb") as stored:
        markdown = stored.read().decode()
    assert markdown == report.content
    assert markdown.startswith("# Migration notes\n")
    assert "## 1. Moving queues one at a time" in markdown and "## 2. Field notes on brokers" in markdown
    assert "A rollback is a flag flip, not a deploy." in markdown
    assert "## Sources" in markdown
    download = client.get(final["markdown_url"])
    assert download.status_code == 200 and download.content.decode() == markdown

    # Deleting a finished report removes its row and its file.
    assert client.delete(f"/api/reports/{report.pk}/").status_code == 202
    wait_until(lambda: Report.objects.filter(pk=report.pk).exists(), lambda exists: not exists)
    assert not default_storage.exists(report.markdown_file.name)


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_cancel_then_delete_a_running_report(transactional_db, workers, event_log, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    parsed_source(client, notebook_id, ARTICLE, "migration.txt")
    started = post(client, "/api/reports/", {"notebook": notebook_id, "config": {"sections": 50}}).json()  # ~10 s
    wait_until(lambda: _report(client, started["id"]), lambda r: r["status"] == "running" and r["progress"] >= 1)

    response = post(client, f"/api/reports/{started['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    handle = TaskHandle.from_string(started["task"]["handle"])
    event_log.wait_for(lambda found: any(e["event"] == "task.cancelled" for e in found), job_id=handle.job_id)
    time.sleep(1)
    report = Report.objects.get(pk=started["id"])
    assert report.status == Report.Status.CANCELLED and not report.markdown_file and report.progress < 50
    assert handle.status() == TaskStatus.CANCELLED

    deleted = client.delete(f"/api/reports/{started['id']}/")
    assert deleted.status_code == 202, deleted.content
    assert TaskHandle.from_string(deleted.json()["task"]["handle"]).backend == backend
    wait_until(lambda: client.get(f"/api/reports/{started['id']}/").status_code, lambda status: status == 404)
    assert not Report.objects.filter(pk=started["id"]).exists()


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_report_without_sources_fails_with_its_error(transactional_db, workers, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    started = post(client, "/api/reports/", {"notebook": notebook_id, "config": {}}).json()
    final = wait_until(lambda: _report(client, started["id"]), _finished)
    assert final["status"] == "failed" and "no parsed sources" in final["error"]


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_validation_task_returns_a_structured_result(transactional_db, workers, everyone, backend):
    route_all(everyone)
    good = validate_report_configuration.enqueue({"title": "Ok", "sections": 2})
    bad = validate_report_configuration.enqueue({"sections": 0, "style": "epic", "colour": "red"})
    assert good.backend == backend and good.queue == "validation"
    assert good.result(timeout=20) == {
        "valid": True, "errors": [],
        "config": {"title": "Ok", "topic": "", "sections": 2, "style": "brief", "include_sources": True},
    }
    result = bad.result(timeout=20)
    assert result["valid"] is False and result["config"] is None
    assert {e["field"] for e in result["errors"]} == {"sections", "style", "colour"}
