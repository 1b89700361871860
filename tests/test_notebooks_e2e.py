"""End to end, once with every queue on Celery and once on RQ: the HTTP API, real
workers, a real redis-server, a local web site; the chain process → upload → status polling."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from notebooks.models import BatchJob, KnowledgeBaseItem
from notebooks.services.knowledge_index import LocalKnowledgeIndex
from taskbridge import TaskHandle, TaskStatus
from tests.support.domain import BACKENDS, client_for, get_json, make_user, new_notebook, post, route_all, wait_until

pytestmark = pytest.mark.integration

FINISHED_INDEX = ("completed", "failed")


def _item(client, notebook_id: int, item_id: int) -> dict:
    return get_json(client, f"/api/notebooks/{notebook_id}/sources/{item_id}/")


def _wait_indexed(client, notebook_id: int, item_id: int, timeout: float = 40) -> dict:
    return wait_until(
        lambda: _item(client, notebook_id, item_id),
        lambda i: i["parsing_status"] == "failed" or (i["index_status"] in FINISHED_INDEX and i["captioning_status"] not in ("pending", "in_progress")),
        timeout,
    )


def _new_events(event_log, before: int) -> list[dict]:
    return event_log.all()[before:]


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_url_becomes_a_parsed_indexed_item(transactional_db, workers, event_log, site, everyone, backend):
    route_all(everyone)
    before = len(event_log.all())
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)

    response = post(client, f"/api/notebooks/{notebook_id}/sources/url/", {"url": site.url("/article.html")})
    assert response.status_code == 202, response.content
    created = response.json()
    assert created["parsing_status"] == "queueing"
    assert TaskHandle.from_string(created["task_handle"]).backend == backend

    final = _wait_indexed(client, notebook_id, created["id"])
    assert final["parsing_status"] == "done", final["error"]
    assert final["index_status"] == "completed", final["error"]
    assert final["captioning_status"] == "completed"
    assert final["title"] == "Queues without surprises"
    assert final["images"][0]["caption"].startswith("Figure: A diagram of a queue")

    item = KnowledgeBaseItem.objects.get(pk=created["id"])
    assert "A queue is a promise" in item.content and "not text" not in item.content
    with default_storage.open(item.file_object_key) as stored:
        assert stored.read().decode().startswith("# Queues without surprises")
    assert default_storage.exists(item.original_file_object_key)
    chunks = LocalKnowledgeIndex().chunks(item.index_document_id)
    assert chunks and "Canary releases" in "".join(chunks)

    # The chain ran on the routed backend: process → upload → captions, and the
    # poller under its fixed id, retrying until the index said DONE.
    events = wait_until(lambda: _new_events(event_log, before),
                        lambda found: sum(e["event"] == "task.succeeded" for e in found) >= 4)
    succeeded = {e["task"].rsplit(".", 1)[-1] for e in events if e["event"] == "task.succeeded"}
    assert {"process_url_task", "upload_to_ragflow_task", "generate_image_captions_task", "check_ragflow_status_task"} <= succeeded
    poller = [e["event"] for e in events if e["job_id"] == f"ragflow-status-{item.pk}"]
    assert poller[0] == "task.enqueued" and "task.retrying" in poller and poller[-1] == "task.succeeded"
    assert {e["backend"] for e in events if e["event"].startswith("task.")} == {backend}


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_document_media_and_file_sources(transactional_db, workers, site, everyone, backend):
    from django.core.files.uploadedfile import SimpleUploadedFile

    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    pdf = post(client, f"/api/notebooks/{notebook_id}/sources/url/", {"url": site.url("/paper.pdf"), "kind": "document"}).json()
    media = post(client, f"/api/notebooks/{notebook_id}/sources/url/", {"url": site.url("/clip.wav"), "kind": "media"}).json()
    upload = client.post(f"/api/notebooks/{notebook_id}/sources/file/",
                         {"file": SimpleUploadedFile("brokers.md", b"# Brokers\n\nA broker hands each message to one worker.\n")})
    assert upload.status_code == 202, upload.content

    for created in (pdf, media, upload.json()):
        final = _wait_indexed(client, notebook_id, created["id"])
        assert (final["parsing_status"], final["index_status"]) == ("done", "completed"), final
    items = {i.content_type: i for i in KnowledgeBaseItem.objects.filter(notebook_id=notebook_id)}
    assert "Exactly one scheduler may own a given tick." in items["document"].content
    assert items["document"].title == "Scheduling background jobs"
    assert "0.50 seconds" in items["media"].content
    assert items["file"].title == "Brokers" and "hands each message" in items["file"].content
    # The upload was stored before dispatch; the job carried its key, not its bytes.
    assert items["file"].original_file_object_key.startswith("uploads/")


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_failing_source_ends_failed_with_its_error(transactional_db, workers, event_log, site, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    created = post(client, f"/api/notebooks/{notebook_id}/sources/url/", {"url": site.url("/missing")}).json()

    final = wait_until(lambda: _item(client, notebook_id, created["id"]), lambda i: i["parsing_status"] == "failed")
    assert "HTTP 404" in final["error"]
    assert final["index_status"] == "pending"  # nothing was chained
    handle = TaskHandle.from_string(created["task_handle"])
    wait_until(handle.status, lambda s: s == TaskStatus.FAILED, 10)
    failed = [e for e in event_log.for_job(handle.job_id) if e["event"] == "task.failed"]
    assert failed and failed[0]["error_type"] == "FetchError" and failed[0]["backend"] == backend


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_batch_counts_follow_their_items(transactional_db, workers, site, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    urls = [site.url("/notes.txt"), site.url("/empty.html")]
    response = post(client, f"/api/notebooks/{notebook_id}/sources/batch/", {"urls": urls})
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]

    final = wait_until(lambda: get_json(client, f"/api/notebooks/{notebook_id}/batches/{batch_id}/"),
                       lambda b: b["status"] in [s.value for s in BatchJob.FINISHED])
    assert (final["status"], final["completed_items"], final["failed_items"]) == ("partially_completed", 1, 1)
    failed = next(i for i in final["items"] if i["status"] == "failed")
    assert failed["url"].endswith("/empty.html") and "no text" in failed["error"]
    ok = next(i for i in final["items"] if i["status"] == "completed")
    _wait_indexed(client, notebook_id, ok["source"])  # let its chain finish before the tables are flushed
