"""Adding sources to a notebook: create the item, then dispatch its ingestion on commit.

Called from the views. Each function writes the rows and dispatches in one
transaction, so a job only ever runs against committed rows, and a rollback
leaves neither a row nor a job.
"""

from __future__ import annotations

import uuid

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import get_valid_filename

from .models import BatchItem, BatchJob, KnowledgeBaseItem, Notebook
from .tasks import process_file_upload_task, process_url_document_task, process_url_media_task, process_url_task

Kind = KnowledgeBaseItem.ContentType
URL_KINDS = (Kind.WEBPAGE, Kind.DOCUMENT, Kind.MEDIA)


def _dispatch_url(kind: str, url: str, notebook: Notebook, user_id: int, upload_id: str, kb_item_id: int,
                  batch_job_id: int | None = None, batch_item_id: int | None = None) -> str:
    batch = {"batch_job_id": batch_job_id, "batch_item_id": batch_item_id}
    if kind == Kind.WEBPAGE:
        handle = process_url_task.enqueue_on_commit(url, notebook.pk, user_id, upload_url_id=upload_id, kb_item_id=kb_item_id, **batch)
    elif kind == Kind.DOCUMENT:
        handle = process_url_document_task.enqueue_on_commit(url, notebook.pk, user_id, upload_url_id=upload_id, **batch)
    else:
        handle = process_url_media_task.enqueue_on_commit(url, notebook.pk, user_id, upload_url_id=upload_id, **batch)
    return str(handle)


def _new_item(notebook: Notebook, kind: str, title: str, url: str = "", **fields: object) -> KnowledgeBaseItem:
    return KnowledgeBaseItem.objects.create(
        notebook=notebook, title=title[:512], content_type=kind, source_url=url, upload_id=uuid.uuid4().hex, **fields
    )


def add_url(notebook: Notebook, user_id: int, url: str, kind: str = Kind.WEBPAGE) -> KnowledgeBaseItem:
    with transaction.atomic():
        item = _new_item(notebook, kind, url, url)
        item.metadata = {"task_handle": _dispatch_url(kind, url, notebook, user_id, item.upload_id, item.pk)}
        item.save(update_fields=["metadata"])
    return item


def add_urls(notebook: Notebook, user_id: int, urls: list[str], kind: str = Kind.WEBPAGE) -> BatchJob:
    with transaction.atomic():
        job = BatchJob.objects.create(user_id=user_id, notebook=notebook, job_type=f"url:{kind}", total_items=len(urls))
        for url in urls:
            item = _new_item(notebook, kind, url, url)
            batch_item = BatchItem.objects.create(batch_job=job, item_data={"url": url, "kind": kind}, kb_item=item)
            item.metadata = {"task_handle": _dispatch_url(kind, url, notebook, user_id, item.upload_id, item.pk, job.pk, batch_item.pk)}
            item.save(update_fields=["metadata"])
    return job


def add_file(notebook: Notebook, user_id: int, upload: UploadedFile) -> KnowledgeBaseItem:
    """Save the file with Django's storage first; the job carries its key, never its bytes."""
    filename = get_valid_filename(upload.name or "upload") or "upload"
    key = default_storage.save(f"uploads/{user_id}/{uuid.uuid4().hex}/{filename}", upload)
    try:
        with transaction.atomic():
            item = _new_item(notebook, Kind.FILE, filename, original_file_object_key=key)
            handle = process_file_upload_task.enqueue_on_commit(key, filename, notebook.pk, user_id, upload_file_id=item.upload_id)
            item.metadata = {"task_handle": str(handle), "filename": filename, "size": upload.size}
            item.save(update_fields=["metadata"])
    except Exception:
        default_storage.delete(key)
        raise
    return item
