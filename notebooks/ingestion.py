"""What the ingestion tasks do: fetch or read a source, extract its text, store it,
and chain the next steps (knowledge-index upload, image captions).

Every write to a KnowledgeBaseItem here is a queryset ``update`` of named
fields, because the chained tasks (captions, index upload, status polling) run
at the same time on other workers and must not overwrite each other's fields.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename

from . import batches, services
from .models import KnowledgeBaseItem, Notebook
from .services import extract
from .services.fetcher import FetchedDocument, TransientFetchError

Kind = KnowledgeBaseItem.ContentType
MEDIA_SUFFIXES = {".wav", ".mp3", ".ogg", ".flac", ".m4a", ".mp4", ".webm", ".mkv", ".mov"}


class SourceError(Exception):
    """A source cannot be ingested; the item is marked failed with this message."""


def item_for(
    notebook_id: int, user_id: int, *, kind: str, url: str = "", upload_id: str | None = None,
    kb_item_id: int | None = None, title: str = "",
) -> KnowledgeBaseItem:
    """The item a task works on: the one named, the one with this upload id, or a new one."""
    notebook = Notebook.objects.get(pk=notebook_id, user_id=user_id)
    if kb_item_id is not None:
        return KnowledgeBaseItem.objects.get(pk=kb_item_id, notebook=notebook)
    if upload_id:
        existing = KnowledgeBaseItem.objects.filter(notebook=notebook, upload_id=upload_id).first()
        if existing is not None:
            return existing
    return KnowledgeBaseItem.objects.create(
        notebook=notebook, title=(title or url or "untitled")[:512], content_type=kind, source_url=url, upload_id=upload_id or ""
    )


def find_item(notebook_id: int, *, upload_id: str | None = None, kb_item_id: int | None = None) -> KnowledgeBaseItem | None:
    items = KnowledgeBaseItem.objects.filter(notebook_id=notebook_id)
    if kb_item_id is not None:
        return items.filter(pk=kb_item_id).first()
    return items.filter(upload_id=upload_id).first() if upload_id else None


def mark_failed(item: KnowledgeBaseItem, message: str, batch_job_id: int | None = None, batch_item_id: int | None = None) -> None:
    KnowledgeBaseItem.objects.touch(item.pk, parsing_status=KnowledgeBaseItem.ParsingStatus.FAILED, error_message=message[:4000])
    batches.item_finished(batch_job_id, batch_item_id, kb_item_id=item.pk, error=message)


def _start(item: KnowledgeBaseItem, batch_job_id: int | None, batch_item_id: int | None) -> None:
    KnowledgeBaseItem.objects.touch(item.pk, parsing_status=KnowledgeBaseItem.ParsingStatus.PARSING, error_message="")
    batches.mark_item(batch_item_id, "processing", kb_item_id=item.pk)
    batches.refresh_job(batch_job_id)


def _name_of(url: str) -> str:
    parts = urlsplit(url)
    return PurePosixPath(parts.path).name or parts.hostname or "source"


def _extract(kind: str, fetched: FetchedDocument) -> extract.Extracted:
    name = _name_of(fetched.final_url)
    if kind == Kind.MEDIA:
        media = fetched.content_type.startswith(("audio/", "video/")) or PurePosixPath(name).suffix.lower() in MEDIA_SUFFIXES
        if not media:
            raise SourceError(f"{fetched.url} is not a media file (content type {fetched.content_type})")
        text = services.get_transcriber().transcribe(fetched.body, fetched.content_type, name)
        return extract.Extracted(title=name, text=text, metadata={"media_type": fetched.content_type})
    if kind == Kind.WEBPAGE and fetched.content_type not in ("text/html", "application/xhtml+xml"):
        # A "webpage" that turns out to be a PDF or text file is read as a document.
        return extract.document(fetched.body, fetched.content_type, fetched.charset, name, fetched.final_url)
    if kind == Kind.WEBPAGE:
        return extract.html(fetched.body, fetched.charset, fetched.final_url)
    return extract.document(fetched.body, fetched.content_type, fetched.charset, name, fetched.final_url)


def process_url(
    kind: str, url: str, notebook_id: int, user_id: int, upload_url_id: str | None,
    batch_job_id: int | None, batch_item_id: int | None, kb_item_id: int | None = None,
) -> dict[str, Any]:
    item = item_for(notebook_id, user_id, kind=kind, url=url, upload_id=upload_url_id, kb_item_id=kb_item_id)
    _start(item, batch_job_id, batch_item_id)
    try:
        fetched = services.get_fetcher().fetch(url)
        extracted = _extract(kind, fetched)
    except TransientFetchError:
        raise  # the task's retry policy runs it again; its give-up hook marks the item failed
    except Exception as exc:
        mark_failed(item, str(exc), batch_job_id, batch_item_id)
        raise
    extracted.metadata.update({"url": url, "final_url": fetched.final_url, "content_type": fetched.content_type})
    return complete(item, extracted, original=fetched.body, original_name=_name_of(fetched.final_url),
                    batch_job_id=batch_job_id, batch_item_id=batch_item_id)


def process_file(
    file_key: str, filename: str, notebook_id: int, user_id: int, upload_file_id: str | None,
    batch_job_id: int | None, batch_item_id: int | None,
) -> dict[str, Any]:
    item = item_for(notebook_id, user_id, kind=Kind.FILE, upload_id=upload_file_id, title=filename)
    _start(item, batch_job_id, batch_item_id)
    try:
        with default_storage.open(file_key, "rb") as stored:
            body = stored.read()
        content_type = mimetypes.guess_type(filename)[0] or ""
        extracted = extract.document(body, content_type, None, filename)
    except Exception as exc:
        mark_failed(item, str(exc), batch_job_id, batch_item_id)
        raise
    extracted.metadata.update({"filename": filename, "size": len(body)})
    item.original_file_object_key = file_key
    return complete(item, extracted, original=None, original_name=filename, batch_job_id=batch_job_id, batch_item_id=batch_item_id)


def complete(
    item: KnowledgeBaseItem, extracted: extract.Extracted, *, original: bytes | None, original_name: str,
    batch_job_id: int | None, batch_item_id: int | None,
) -> dict[str, Any]:
    """Store the extracted text, mark the item parsed, and chain index upload and captions."""
    from .tasks import generate_image_captions_task, upload_to_ragflow_task

    folder = f"notebooks/{item.notebook_id}/items/{item.pk}"
    source = item.source_url or original_name
    markdown = f"# {extracted.title}\n\nSource: {source}\n\n{extracted.text}\n"
    content_key = default_storage.save(f"{folder}/content.md", ContentFile(markdown.encode()))
    original_key = item.original_file_object_key
    if original is not None and not original_key:
        original_key = default_storage.save(f"{folder}/original/{get_valid_filename(original_name) or 'source'}", ContentFile(original))
    metadata = {**(item.metadata or {}), **extracted.metadata, "images": extracted.images}
    captioning = KnowledgeBaseItem.CaptioningStatus
    KnowledgeBaseItem.objects.touch(
        item.pk,
        title=extracted.title[:512],
        content=extracted.text,
        metadata=metadata,
        file_object_key=content_key,
        original_file_object_key=original_key,
        source_hash=hashlib.sha256(extracted.text.encode()).hexdigest(),
        parsing_status=KnowledgeBaseItem.ParsingStatus.DONE,
        captioning_status=captioning.PENDING if extracted.images else captioning.NOT_REQUIRED,
        error_message="",
    )
    batches.item_finished(batch_job_id, batch_item_id, kb_item_id=item.pk)
    upload_to_ragflow_task.enqueue_on_commit(item.pk)
    if extracted.images:
        generate_image_captions_task.enqueue_on_commit(item.pk)
    return {"kb_item_id": item.pk, "title": extracted.title, "characters": len(extracted.text), "images": len(extracted.images)}


def generate_captions(kb_item_id: int) -> dict[str, Any]:
    status = KnowledgeBaseItem.CaptioningStatus
    item = KnowledgeBaseItem.objects.get(pk=kb_item_id)
    images = (item.metadata or {}).get("images") or []
    if not images:
        KnowledgeBaseItem.objects.touch(item.pk, captioning_status=status.NOT_REQUIRED)
        return {"kb_item_id": kb_item_id, "captions": 0}
    KnowledgeBaseItem.objects.touch(item.pk, captioning_status=status.IN_PROGRESS)
    try:
        captioned = [{**image, "caption": services.get_captioner().caption(image, item.title)} for image in images]
    except Exception as exc:
        KnowledgeBaseItem.objects.touch(item.pk, captioning_status=status.FAILED, metadata={**item.metadata, "captioning_error": str(exc)})
        raise
    KnowledgeBaseItem.objects.touch(item.pk, captioning_status=status.COMPLETED, metadata={**item.metadata, "images": captioned})
    return {"kb_item_id": kb_item_id, "captions": len(captioned)}
