"""The notebooks tasks: DeepSight's set, same names, queues and arguments, declared with taskbridge.

Bodies live in ``ingestion`` and ``indexing``; this module only declares.
The one change of shape: ``process_file_upload_task`` takes the storage key of
a file already saved (DeepSight sent the raw bytes through the broker).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.db import connection

from taskbridge import RetryPolicy, context, task

from . import batches, conf, indexing, ingestion
from .services.fetcher import TransientFetchError
from .services.knowledge_index import KnowledgeIndexUnavailable

Kind = ingestion.Kind

FETCH_RETRY = RetryPolicy(
    on=(TransientFetchError,), max_retries=3, countdown=conf.get("NOTEBOOKS_FETCH_RETRY_COUNTDOWN"), backoff="exponential"
)
INDEX_RETRY = RetryPolicy(on=(KnowledgeIndexUnavailable,), max_retries=3, countdown=5, backoff="exponential")


def _url_gave_up(
    url: str, notebook_id: int, user_id: int, upload_url_id: str | None = None,
    batch_job_id: int | None = None, batch_item_id: int | None = None, kb_item_id: int | None = None,
) -> None:
    """Give-up hook of the URL tasks: the fetch kept failing transiently."""
    item = ingestion.find_item(notebook_id, upload_id=upload_url_id, kb_item_id=kb_item_id)
    if item is not None:
        ingestion.mark_failed(item, f"gave up fetching {url} after {FETCH_RETRY.max_retries} retries", batch_job_id, batch_item_id)


def _index_gave_up(kb_item_id: int) -> None:
    indexing.mark_failed(kb_item_id, "knowledge index unreachable; gave up uploading")


@task(queue="notebook_processing", retry=FETCH_RETRY, on_give_up=_url_gave_up, routing_key="notebook_id")
def process_url_task(
    url: str, notebook_id: int, user_id: int, upload_url_id: str | None = None,
    batch_job_id: int | None = None, batch_item_id: int | None = None, kb_item_id: int | None = None,
) -> dict[str, Any]:
    """Fetch a web page, extract its title and text, then chain index upload (and captions)."""
    return ingestion.process_url(Kind.WEBPAGE, url, notebook_id, user_id, upload_url_id, batch_job_id, batch_item_id, kb_item_id)


@task(queue="notebook_processing", retry=FETCH_RETRY, on_give_up=_url_gave_up, routing_key="notebook_id")
def process_url_media_task(
    url: str, notebook_id: int, user_id: int, upload_url_id: str | None = None,
    batch_job_id: int | None = None, batch_item_id: int | None = None,
) -> dict[str, Any]:
    """Fetch an audio / video file and describe (transcribe) it."""
    return ingestion.process_url(Kind.MEDIA, url, notebook_id, user_id, upload_url_id, batch_job_id, batch_item_id)


@task(queue="notebook_processing", retry=FETCH_RETRY, on_give_up=_url_gave_up, routing_key="notebook_id")
def process_url_document_task(
    url: str, notebook_id: int, user_id: int, upload_url_id: str | None = None,
    batch_job_id: int | None = None, batch_item_id: int | None = None,
) -> dict[str, Any]:
    """Fetch a PDF or plain-text document and extract its text."""
    return ingestion.process_url(Kind.DOCUMENT, url, notebook_id, user_id, upload_url_id, batch_job_id, batch_item_id)


@task(queue="notebook_processing", routing_key="notebook_id")
def process_file_upload_task(
    file_key: str, filename: str, notebook_id: int, user_id: int, upload_file_id: str | None = None,
    batch_job_id: int | None = None, batch_item_id: int | None = None,
) -> dict[str, Any]:
    """Extract the text of a file already saved in Django's storage under ``file_key``."""
    return ingestion.process_file(file_key, filename, notebook_id, user_id, upload_file_id, batch_job_id, batch_item_id)


@task(queue="notebook_processing")
def generate_image_captions_task(kb_item_id: int) -> dict[str, Any]:
    return ingestion.generate_captions(kb_item_id)


@task(queue="notebook_processing", retry=INDEX_RETRY, on_give_up=_index_gave_up)
def upload_to_ragflow_task(kb_item_id: int) -> dict[str, Any]:
    """Upload to the knowledge index, trigger parsing, schedule ``check_ragflow_status_task``."""
    return indexing.upload(kb_item_id)


@task(queue="notebook_processing", on_give_up=indexing.polling_gave_up)
def check_ragflow_status_task(kb_item_id: int, max_retries: int = 10) -> dict[str, Any]:
    """Poll the index: DONE → completed; FAIL / CANCEL → failed; still running → retry later."""
    return indexing.check_status(kb_item_id, max_retries)


@task(queue="maintenance")
def cleanup_old_batch_jobs() -> dict[str, int]:
    return {"deleted": batches.cleanup_old(conf.get("NOTEBOOKS_BATCH_RETENTION_DAYS"))}


@task(queue="notebook_processing")
def test_caption_generation_task(kb_item_id: int) -> dict[str, Any]:
    """Trivial echo, as in DeepSight: checks the queue round trip."""
    return {"kb_item_id": kb_item_id, "status": "ok"}


@task(queue="default")
def health_check_task() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    ctx = context.current()
    return {"status": "ok", "backend": ctx.backend if ctx else "inline", "host": socket.gethostname(), "pid": os.getpid()}
