"""Bad input to the JSON API gets a 4xx with a message, and nothing is enqueued or created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from notebooks.models import BatchJob, KnowledgeBaseItem, Notebook
from podcast.models import PodcastJob
from reports.models import Report
from taskbridge import TaskHandle
from tests.support.domain import post


@pytest.fixture
def dispatched(monkeypatch) -> list[str]:
    """Every dispatch attempted during the test (task names); nothing reaches a backend."""
    calls: list[str] = []

    def record(task, args, kwargs, *, on_commit=False):
        calls.append(task.name)
        return TaskHandle("celery", task.queue, f"fake-{len(calls)}")

    monkeypatch.setattr("taskbridge.dispatch.enqueue", record)
    return calls


@pytest.fixture
def notebook(alice) -> Notebook:
    return Notebook.objects.create(user=alice, name="Mine")


def _assert_refused(response, status: int, *words: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert body["error"], body
    for word in words:
        assert word in json.dumps(body), body
    return body


def test_a_good_request_is_dispatched(api, notebook, dispatched):
    """The control: the same endpoints do enqueue when the input is good."""
    response = post(api, f"/api/notebooks/{notebook.pk}/sources/url/", {"url": "https://example.org/a"})
    assert response.status_code == 202
    assert dispatched == ["notebooks.tasks.process_url_task"]


@pytest.mark.parametrize("body,status,words", [
    ({}, 400, ["'url' must be"]),
    ({"url": ""}, 400, ["url"]),
    ({"url": 42}, 400, ["url"]),
    ({"url": "not a url"}, 400, ["not a valid http(s) URL"]),
    ({"url": "ftp://example.org/file"}, 400, ["not a valid http(s) URL"]),
    ({"url": "http://"}, 400, ["not a valid"]),
    ({"url": "https://example.org/a", "kind": "video"}, 400, ["'kind' must be one of"]),
])
def test_bad_url_sources_are_refused(api, notebook, dispatched, body, status, words):
    _assert_refused(post(api, f"/api/notebooks/{notebook.pk}/sources/url/", body), status, *words)
    assert dispatched == [] and not KnowledgeBaseItem.objects.exists()


def test_unknown_notebook_is_404(api, dispatched):
    _assert_refused(post(api, "/api/notebooks/999/sources/url/", {"url": "https://example.org/a"}), 404, "notebook 999 not found")
    _assert_refused(post(api, "/api/podcasts/", {"notebook": 999}), 404, "notebook 999 not found")
    _assert_refused(post(api, "/api/reports/", {"notebook": 999, "config": {}}), 404, "notebook 999 not found")
    assert dispatched == []


def test_bodies_that_are_not_json_objects_are_refused(api, notebook, dispatched):
    path = f"/api/notebooks/{notebook.pk}/sources/url/"
    _assert_refused(api.post(path, data="{broken", content_type="application/json"), 400, "not valid JSON")
    _assert_refused(api.post(path, data="[1, 2]", content_type="application/json"), 400, "JSON object")
    _assert_refused(api.post(path, data={"url": "https://example.org"}), 415, "application/json")
    assert dispatched == []


def test_notebook_needs_a_name(api):
    _assert_refused(post(api, "/api/notebooks/", {}), 400, "'name' is required")
    _assert_refused(post(api, "/api/notebooks/", {"name": "x" * 300}), 400, "1 to 255")
    assert not Notebook.objects.exists()


@pytest.mark.parametrize("urls,words", [
    ([], ["1 to 50"]),
    (["https://example.org/a", "javascript:alert(1)"], ["not a valid"]),
    (["https://example.org/%d" % i for i in range(51)], ["1 to 50"]),
    ("https://example.org/a", ["wrong type"]),
])
def test_bad_batches_are_refused(api, notebook, dispatched, urls, words):
    _assert_refused(post(api, f"/api/notebooks/{notebook.pk}/sources/batch/", {"urls": urls}), 400, *words)
    assert dispatched == [] and not BatchJob.objects.exists() and not KnowledgeBaseItem.objects.exists()


def _stored_uploads() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_missing_empty_and_oversized_uploads_are_refused(api, notebook, dispatched, settings):
    settings.NOTEBOOKS_MAX_UPLOAD_BYTES = 1000
    path = f"/api/notebooks/{notebook.pk}/sources/file/"
    before = _stored_uploads()
    _assert_refused(api.post(path, {}), 400, "'file' is required")
    _assert_refused(api.post(path, {"file": SimpleUploadedFile("empty.txt", b"")}), 400, "empty")
    _assert_refused(api.post(path, {"file": SimpleUploadedFile("big.txt", b"x" * 1001)}), 413, "larger than the limit of 1000 bytes")
    # A body far past the limit is refused from its Content-Length, before it is read.
    _assert_refused(api.post(path, {"file": SimpleUploadedFile("huge.txt", b"x" * 200_000)}), 413, "larger than the limit")
    assert dispatched == [] and not KnowledgeBaseItem.objects.exists()
    assert _stored_uploads() == before


@pytest.mark.parametrize("body,words", [
    ({}, ["'notebook' is required"]),
    ({"notebook": "one"}, ["wrong type"]),
    ({"segments": 1}, ["between 2 and"]),
    ({"segments": 10_000}, ["between 2 and"]),
    ({"segments": "many"}, ["wrong type"]),
    ({"title": ["x"]}, ["wrong type"]),
])
def test_bad_podcast_requests_are_refused(api, notebook, dispatched, body, words):
    body = {"notebook": notebook.pk, **body} if "notebook" not in body and body else body
    _assert_refused(post(api, "/api/podcasts/", body), 400, *words)
    assert dispatched == [] and not PodcastJob.objects.exists()


@pytest.mark.parametrize("config,fields", [
    ("three sections", ["config"]),
    ({"sections": 0}, ["sections"]),
    ({"sections": True}, ["sections"]),
    ({"style": "epic", "title": ""}, ["style", "title"]),
    ({"colour": "red"}, ["colour"]),
])
def test_bad_report_configurations_are_refused(api, notebook, dispatched, config, fields):
    body = _assert_refused(post(api, "/api/reports/", {"notebook": notebook.pk, "config": config}), 400, "invalid report configuration")
    assert sorted(e["field"] for e in body["errors"]) == sorted(fields)
    assert dispatched == [] and not Report.objects.exists()


def test_validate_endpoint_returns_the_structured_result(api, dispatched):
    response = post(api, "/api/reports/validate/", {"config": {"sections": 99}})
    assert response.status_code == 200
    assert response.json()["valid"] is False and response.json()["errors"][0]["field"] == "sections"
    assert dispatched == []


def test_wrong_method_is_405(api, notebook):
    assert api.get(f"/api/notebooks/{notebook.pk}/sources/url/").status_code == 405
    assert api.delete("/api/podcasts/").status_code == 405


def test_anonymous_requests_are_401(notebook, dispatched):
    anonymous = Client()
    for method, path in [("get", "/api/notebooks/"), ("post", f"/api/notebooks/{notebook.pk}/sources/url/"),
                         ("post", "/api/podcasts/"), ("get", "/api/reports/")]:
        response = getattr(anonymous, method)(path, data="{}", content_type="application/json") if method == "post" else anonymous.get(path)
        assert response.status_code == 401 and response.json()["error"] == "authentication required"
    assert dispatched == []


NOTEBOOK = object()  # stands for the test notebook's id in the cases below


@pytest.mark.parametrize("path,body,name", [
    ("/api/notebooks/", {"name": "bad\x00name"}, "name"),
    ("/api/notebooks/", {"name": "ok", "description": "a\x00b"}, "description"),
    ("/api/notebooks/{nb}/sources/url/", {"url": "https://example.org/\x00"}, "url"),
    ("/api/notebooks/{nb}/sources/batch/", {"urls": ["https://example.org/a", "https://example.org/\x00"]}, "urls"),
    ("/api/podcasts/", {"notebook": NOTEBOOK, "title": "show\x00"}, "title"),
    ("/api/reports/", {"notebook": NOTEBOOK, "config": {"title": "t\x00"}}, "config"),
    ("/api/reports/validate/", {"config": {"topic": "\x00"}}, "config"),
    ("/api/notebooks/", {"name": "ok", "x\x00": 1}, "(body)"),
])
def test_nul_characters_are_refused(api, notebook, dispatched, path, body, name):
    body = {key: notebook.pk if value is NOTEBOOK else value for key, value in body.items()}
    refused = _assert_refused(post(api, path.format(nb=notebook.pk), body), 400, "NUL character")
    assert refused.get("field", "(body)") == name
    assert dispatched == [] and Notebook.objects.count() == 1
    assert not (KnowledgeBaseItem.objects.exists() or BatchJob.objects.exists() or PodcastJob.objects.exists() or Report.objects.exists())


def test_the_report_rules_refuse_nul_characters_themselves():
    from reports.validation import validate_config

    result = validate_config({"title": "a\x00", "topic": "b\x00"})
    assert result["valid"] is False and sorted(e["field"] for e in result["errors"]) == ["title", "topic"]


def test_bodies_over_the_upload_limit_get_a_json_413(api, notebook, dispatched, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(api, "/api/notebooks/", {"name": "n", "description": "x" * 2000})
    _assert_refused(response, 413, "larger than the limit")
    response = post(api, f"/api/notebooks/{notebook.pk}/sources/url/", {"url": "https://example.org/" + "a" * 2000})
    _assert_refused(response, 413, "larger than the limit")
    assert dispatched == [] and Notebook.objects.count() == 1 and not KnowledgeBaseItem.objects.exists()


def test_an_oversized_task_argument_is_a_json_400_and_leaves_nothing(api, notebook, settings):
    """The real dispatch path: the URL passes the API's checks but not the argument size limit."""
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "MAX_ARGUMENT_BYTES": 200}
    response = post(api, f"/api/notebooks/{notebook.pk}/sources/url/", {"url": "https://example.org/" + "a" * 300})
    assert response.status_code == 400, response.content
    assert "MAX_ARGUMENT_BYTES" in response.json()["error"]
    assert not KnowledgeBaseItem.objects.exists()


def test_csrf_refusals_and_unknown_endpoints_answer_json(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    refused = post(browser, "/api/notebooks/", {"name": "n"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    missing = browser.get("/api/nothing-here/")
    assert missing.status_code == 404 and "no API endpoint" in missing.json()["error"]
    assert not Notebook.objects.exists()
