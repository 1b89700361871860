"""JSON API for notebooks and their sources (mounted under /api/notebooks/)."""

from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse

from . import conf, sources
from .api import ApiError, api_view, field, json_body, owned, when
from .models import BatchJob, KnowledgeBaseItem, Notebook

MAX_BATCH_URLS = 50
_url_validator = URLValidator(schemes=["http", "https"])


def notebook_json(notebook: Notebook, *, with_items: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": notebook.pk, "name": notebook.name, "description": notebook.description,
        "created_at": when(notebook.created_at), "updated_at": when(notebook.updated_at),
    }
    if with_items:
        data["sources"] = [item_json(item) for item in notebook.items.all()]
    return data


def item_json(item: KnowledgeBaseItem) -> dict[str, Any]:
    metadata = item.metadata or {}
    return {
        "id": item.pk, "notebook": item.notebook_id, "title": item.title, "content_type": item.content_type,
        "source_url": item.source_url, "upload_id": item.upload_id,
        "parsing_status": item.parsing_status, "captioning_status": item.captioning_status,
        "index_status": item.index_status, "index_document_id": item.index_document_id,
        "error": item.error_message or None, "content_preview": item.content[:500],
        "images": metadata.get("images", []), "task_handle": metadata.get("task_handle"),
        "created_at": when(item.created_at), "updated_at": when(item.updated_at),
    }


def batch_json(job: BatchJob) -> dict[str, Any]:
    return {
        "id": job.pk, "notebook": job.notebook_id, "status": job.status, "total_items": job.total_items,
        "completed_items": job.completed_items, "failed_items": job.failed_items,
        "items": [{"id": i.pk, "status": i.status, "source": i.kb_item_id, "error": i.error_message or None, **i.item_data}
                  for i in job.items.order_by("pk")],
    }


def _url(value: Any, name: str = "url") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"'{name}' must be a non-empty string", name)
    try:
        _url_validator(value.strip())
    except ValidationError:
        raise ApiError(400, f"'{value}' is not a valid http(s) URL", name) from None
    return value.strip()


def _kind(data: dict[str, Any]) -> str:
    kind = field(data, "kind", str, required=False, default=KnowledgeBaseItem.ContentType.WEBPAGE)
    if kind not in sources.URL_KINDS:
        raise ApiError(400, f"'kind' must be one of {', '.join(sources.URL_KINDS)}", "kind")
    return kind


@api_view("GET", "POST")
def notebooks(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"notebooks": [notebook_json(n) for n in Notebook.objects.filter(user=request.user)]})
    data = json_body(request)
    name = field(data, "name", str).strip()
    if not name or len(name) > 255:
        raise ApiError(400, "'name' must be 1 to 255 characters", "name")
    description = field(data, "description", str, required=False, default="")
    notebook = Notebook.objects.create(user=request.user, name=name, description=description)
    return JsonResponse(notebook_json(notebook), status=201)


@api_view("GET")
def notebook_detail(request: HttpRequest, notebook_id: int) -> JsonResponse:
    notebook = owned(Notebook.objects, notebook_id, request.user, "notebook")
    return JsonResponse(notebook_json(notebook, with_items=True))


@api_view("POST")
def add_url(request: HttpRequest, notebook_id: int) -> JsonResponse:
    notebook = owned(Notebook.objects, notebook_id, request.user, "notebook")
    data = json_body(request)
    url, kind = _url(data.get("url")), _kind(data)
    item = sources.add_url(notebook, request.user.pk, url, kind)
    return JsonResponse(item_json(item), status=202)


@api_view("POST")
def add_batch(request: HttpRequest, notebook_id: int) -> JsonResponse:
    notebook = owned(Notebook.objects, notebook_id, request.user, "notebook")
    data = json_body(request)
    urls = field(data, "urls", list)
    if not 1 <= len(urls) <= MAX_BATCH_URLS:
        raise ApiError(400, f"'urls' must hold 1 to {MAX_BATCH_URLS} URLs", "urls")
    checked = [_url(url, "urls") for url in urls]
    job = sources.add_urls(notebook, request.user.pk, checked, _kind(data))
    return JsonResponse(batch_json(job), status=202)


@api_view("POST")
def add_file(request: HttpRequest, notebook_id: int) -> JsonResponse:
    notebook = owned(Notebook.objects, notebook_id, request.user, "notebook")
    limit = conf.get("NOTEBOOKS_MAX_UPLOAD_BYTES")
    # Refuse an oversized body before Django reads it; 64 KiB covers multipart overhead.
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 65536:
        raise ApiError(413, f"upload larger than the limit of {limit} bytes", "file")
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError(400, "'file' is required (multipart/form-data)", "file")
    if upload.size > limit:
        raise ApiError(413, f"upload of {upload.size} bytes is larger than the limit of {limit} bytes", "file")
    if upload.size == 0:
        raise ApiError(400, "the uploaded file is empty", "file")
    item = sources.add_file(notebook, request.user.pk, upload)
    return JsonResponse(item_json(item), status=202)


@api_view("GET")
def source_detail(request: HttpRequest, notebook_id: int, item_id: int) -> JsonResponse:
    notebook = owned(Notebook.objects, notebook_id, request.user, "notebook")
    item = notebook.items.filter(pk=item_id).first()
    if item is None:
        raise ApiError(404, f"source {item_id} not found")
    return JsonResponse(item_json(item))


@api_view("GET")
def batch_detail(request: HttpRequest, notebook_id: int, batch_id: int) -> JsonResponse:
    job = owned(BatchJob.objects.filter(notebook_id=notebook_id), batch_id, request.user, "batch")
    return JsonResponse(batch_json(job))
