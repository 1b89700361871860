"""Uploading a parsed source to the knowledge index and following its parsing there.

The shape is DeepSight's: upload, trigger parsing, then schedule one status
poller under the fixed job id ``ragflow-status-<kb_item_id>`` (a second
schedule while it is alive is a no-op), which re-runs itself with an in-task
retry until the index says DONE, FAIL or CANCEL, and gives up after
``max_retries`` polls.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage

from taskbridge import TaskHandle, context

from . import conf, services
from .models import KnowledgeBaseItem, Notebook
from .services.knowledge_index import CANCEL, DONE, FAIL, KnowledgeIndexError, KnowledgeIndexUnavailable

Status = KnowledgeBaseItem.IndexStatus


def status_job_id(kb_item_id: int) -> str:
    return f"ragflow-status-{kb_item_id}"


def mark_failed(kb_item_id: int, message: str) -> None:
    KnowledgeBaseItem.objects.touch(kb_item_id, index_status=Status.FAILED, error_message=message[:4000])


def dataset_for(notebook: Notebook) -> str:
    """The notebook's dataset in the index, created on first use."""
    if not notebook.index_dataset_id:
        dataset_id = services.get_knowledge_index().create_dataset(f"notebook-{notebook.pk}")
        Notebook.objects.filter(pk=notebook.pk, index_dataset_id="").update(index_dataset_id=dataset_id)
        notebook.refresh_from_db(fields=["index_dataset_id"])
    return notebook.index_dataset_id


def _processed_text(item: KnowledgeBaseItem) -> str:
    if item.file_object_key and default_storage.exists(item.file_object_key):
        with default_storage.open(item.file_object_key, "rb") as stored:
            return stored.read().decode()
    return item.content


def upload(kb_item_id: int) -> dict[str, Any]:
    item = KnowledgeBaseItem.objects.select_related("notebook").get(pk=kb_item_id)
    if item.parsing_status != KnowledgeBaseItem.ParsingStatus.DONE:
        mark_failed(item.pk, f"cannot index an item whose parsing is {item.parsing_status}")
        return {"success": False, "error": "not parsed"}
    KnowledgeBaseItem.objects.touch(item.pk, index_status=Status.UPLOADING)
    index = services.get_knowledge_index()
    try:
        dataset_id = dataset_for(item.notebook)
        filename = (item.file_object_key.rsplit("/", 1)[-1] if item.file_object_key else f"item-{item.pk}.md")
        document_id = index.upload(dataset_id, filename, _processed_text(item))
        index.parse(dataset_id, [document_id])
    except KnowledgeIndexUnavailable:
        raise  # retried by the task's policy
    except KnowledgeIndexError as exc:
        mark_failed(item.pk, f"knowledge index upload failed: {exc}")
        raise
    KnowledgeBaseItem.objects.touch(item.pk, index_document_id=document_id, index_status=Status.PARSING)
    handle = schedule_status_check(item.pk)
    return {"success": True, "document_id": document_id, "status_job": str(handle)}


def schedule_status_check(kb_item_id: int) -> TaskHandle:
    """Start the poller under its fixed job id; while one is alive this returns its handle.

    Dispatched with ``enqueue`` (not on commit): it is called from a worker in
    autocommit, and only a direct dispatch returns the live poller's handle on
    a duplicate."""
    from .tasks import check_ragflow_status_task

    countdown = conf.get("KNOWLEDGE_INDEX_POLL_COUNTDOWN")
    return check_ragflow_status_task.using(countdown=countdown, job_id=status_job_id(kb_item_id)).enqueue(kb_item_id)


def check_status(kb_item_id: int, max_retries: int) -> dict[str, Any]:
    item = KnowledgeBaseItem.objects.select_related("notebook").filter(pk=kb_item_id).first()
    if item is None:
        return {"success": False, "error": f"KB item {kb_item_id} not found"}
    if item.index_status != Status.PARSING:
        # Already finished, or not uploaded (again) yet: nothing for this poller to follow.
        return {"success": item.index_status == Status.COMPLETED, "status": item.index_status}
    if not item.index_document_id or not item.notebook.index_dataset_id:
        mark_failed(item.pk, "no knowledge-index document to check")
        return {"success": False, "error": "missing document id"}
    try:
        state = services.get_knowledge_index().status(item.notebook.index_dataset_id, item.index_document_id)
    except KnowledgeIndexUnavailable as exc:
        return _poll_again(max_retries, exc)
    except KnowledgeIndexError as exc:
        mark_failed(item.pk, f"knowledge index: {exc}")
        return {"success": False, "error": str(exc)}
    if state.status == DONE:
        KnowledgeBaseItem.objects.touch(item.pk, index_status=Status.COMPLETED)
        return {"success": True, "status": "completed", "chunks": state.chunk_count}
    if state.status in (FAIL, CANCEL):
        detail = f": {state.message}" if state.message else ""
        mark_failed(item.pk, f"knowledge index parsing ended with status {state.status}{detail}")
        return {"success": False, "status": state.status.lower()}
    return _poll_again(max_retries)


def _poll_again(max_retries: int, exc: BaseException | None = None) -> dict[str, Any]:
    if context.current() is None:  # called inline: report, don't loop
        return {"success": False, "status": "running"}
    context.retry(countdown=conf.get("KNOWLEDGE_INDEX_POLL_COUNTDOWN"), max_retries=max_retries, exc=exc)


def polling_gave_up(kb_item_id: int, max_retries: int = 10) -> None:
    mark_failed(kb_item_id, f"timeout: knowledge index parsing did not finish after {max_retries + 1} polls")
