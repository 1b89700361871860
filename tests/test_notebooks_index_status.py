"""check_ragflow_status_task on real workers, both backends: each way polling ends
(DONE is covered end to end in test_notebooks_e2e) leaves the item in the right state,
and the fixed job id keeps a second poller from being scheduled."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from notebooks import indexing
from notebooks.models import KnowledgeBaseItem, Notebook
from notebooks.services.knowledge_index import LocalKnowledgeIndex
from notebooks.tasks import check_ragflow_status_task
from taskbridge import TaskHandle, TaskStatus
from tests.support.domain import BACKENDS, route_all, wait_until

pytestmark = pytest.mark.integration
Status = KnowledgeBaseItem.IndexStatus


def _uploaded_item(content: str, polls_to_done: int) -> tuple[KnowledgeBaseItem, LocalKnowledgeIndex]:
    """A parsed item whose document is already uploaded to the local index and parsing there."""
    user = get_user_model().objects.create_user("indexer")
    index = LocalKnowledgeIndex()
    notebook = Notebook.objects.create(user=user, name="n", index_dataset_id=index.create_dataset("n"))
    document_id = index.upload(notebook.index_dataset_id, "doc.md", content, polls_to_done=polls_to_done)
    index.parse(notebook.index_dataset_id, [document_id])
    item = KnowledgeBaseItem.objects.create(
        notebook=notebook, title="doc", content=content, parsing_status=KnowledgeBaseItem.ParsingStatus.DONE,
        index_status=Status.PARSING, index_document_id=document_id,
    )
    return item, index


def _final(item: KnowledgeBaseItem, handle: TaskHandle) -> KnowledgeBaseItem:
    wait_until(lambda: KnowledgeBaseItem.objects.get(pk=item.pk).index_status, lambda s: s in (Status.COMPLETED, Status.FAILED))
    wait_until(handle.status, lambda s: s.is_finished, 10)  # the poller is over before the tables are flushed
    return KnowledgeBaseItem.objects.get(pk=item.pk)


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_fail_marks_the_item_failed(transactional_db, workers, everyone, backend):
    route_all(everyone)
    item, _ = _uploaded_item("", polls_to_done=2)  # nothing to index: the index reports FAIL
    handle = indexing.schedule_status_check(item.pk)
    assert handle.backend == backend
    final = _final(item, handle)
    assert final.index_status == Status.FAILED
    assert "ended with status FAIL" in final.error_message
    assert handle.status() == TaskStatus.SUCCEEDED


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_cancel_in_the_index_marks_the_item_failed(transactional_db, workers, event_log, everyone, backend):
    route_all(everyone)
    item, index = _uploaded_item("Some text to index.", polls_to_done=1000)
    handle = indexing.schedule_status_check(item.pk)
    event_log.wait_for(lambda found: any(e["event"] == "task.retrying" for e in found), job_id=handle.job_id)
    assert index.cancel(item.notebook.index_dataset_id, item.index_document_id)
    final = _final(item, handle)
    assert final.index_status == Status.FAILED and "ended with status CANCEL" in final.error_message


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_retries_exhausted_mark_the_item_failed_with_timeout(transactional_db, workers, event_log, everyone, backend):
    route_all(everyone)
    item, _ = _uploaded_item("Some text to index.", polls_to_done=1000)
    handle = check_ragflow_status_task.using(job_id=indexing.status_job_id(item.pk)).enqueue(item.pk, max_retries=1)
    final = _final(item, handle)
    assert final.index_status == Status.FAILED and final.error_message.startswith("timeout")
    assert handle.status() == TaskStatus.FAILED
    events = [e["event"] for e in event_log.for_job(handle.job_id)]
    assert events.count("task.started") == 2 and events[-1] == "task.failed"
    assert [e for e in event_log.for_job(handle.job_id) if e["event"] == "task.failed"][0]["error_type"] == "max_retries_exceeded"


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_the_poller_is_never_duplicated(transactional_db, workers, event_log, everyone, backend):
    route_all(everyone)
    item, index = _uploaded_item("Some text to index.", polls_to_done=3)
    first = indexing.schedule_status_check(item.pk)
    route_all(not everyone)  # even after a flip, the live poller keeps the id
    second = indexing.schedule_status_check(item.pk)
    assert second == first and first.job_id == f"ragflow-status-{item.pk}"
    final = _final(item, first)
    assert final.index_status == Status.COMPLETED
    events = event_log.for_job(first.job_id)
    assert sum(e["event"] == "task.skipped" for e in events) == 1
    assert {e["backend"] for e in events if e["event"] == "task.started"} == {backend}
