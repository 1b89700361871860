"""JSON API for podcast jobs (mounted under /api/podcasts/)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse

from notebooks import longjobs
from notebooks.api import ApiError, api_view, field, int_field, json_body, owned, task_json, when
from notebooks.models import Notebook

from . import conf, jobs
from .models import PodcastJob


def podcast_json(job: PodcastJob, *, with_task: bool = True) -> dict[str, Any]:
    return {
        "id": job.pk, "notebook": job.notebook_id, "title": job.title, "status": job.status,
        "segments": job.segments, "progress": job.progress, "transcript": job.transcript,
        "audio_url": f"/api/podcasts/{job.pk}/audio/" if job.audio_file else None,
        "duration_seconds": job.duration_seconds, "error": job.error_message or None,
        "task": task_json(job.task_handle) if with_task else {"handle": job.task_handle or None},
        "created_at": when(job.created_at), "started_at": when(job.started_at), "completed_at": when(job.completed_at),
    }


@api_view("GET", "POST")
def podcasts(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"podcasts": [podcast_json(j, with_task=False) for j in PodcastJob.objects.filter(user=request.user)]})
    data = json_body(request)
    notebook = owned(Notebook.objects, field(data, "notebook", int), request.user, "notebook", field_name="notebook")
    title = field(data, "title", str, required=False, default=f"{notebook.name} podcast").strip()[:255]
    segments = int_field(data, "segments", default=conf.get("PODCAST_DEFAULT_SEGMENTS"), low=2, high=conf.get("PODCAST_MAX_SEGMENTS"))
    job = jobs.start(request.user, notebook, title or "Podcast", segments)
    return JsonResponse(podcast_json(job), status=202)


@api_view("GET")
def podcast_detail(request: HttpRequest, job_id: int) -> JsonResponse:
    return JsonResponse(podcast_json(owned(PodcastJob.objects, job_id, request.user, "podcast")))


@api_view("POST")
def cancel(request: HttpRequest, job_id: int) -> JsonResponse:
    job = owned(PodcastJob.objects, job_id, request.user, "podcast")
    if not longjobs.cancel(job):
        raise ApiError(409, f"podcast {job.pk} is already {job.status}")
    return JsonResponse(podcast_json(job))


@api_view("GET")
def audio(request: HttpRequest, job_id: int) -> HttpResponse:
    job = owned(PodcastJob.objects, job_id, request.user, "podcast")
    if not job.audio_file:
        raise ApiError(404, f"podcast {job.pk} has no audio yet (status {job.status})")
    return FileResponse(job.audio_file.open("rb"), content_type="audio/wav", filename=f"podcast-{job.pk}.wav")
