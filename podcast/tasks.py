"""The podcast tasks: DeepSight's set, same names, queues and arguments, declared with taskbridge."""

from __future__ import annotations

from typing import Any

from notebooks import longjobs
from taskbridge import task

from . import conf, generation
from .models import PodcastJob


@task(queue="podcast")
def process_podcast_generation(job_id: int) -> dict[str, Any]:
    """Long job: generating → completed / error; stops between steps when cancelled."""
    return generation.generate(job_id)


@task(queue="podcast")
def cancel_podcast_generation(job_id: int) -> dict[str, Any]:
    """Cancel the generation job through the handle stored on the PodcastJob; mark it cancelled."""
    job = PodcastJob.objects.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "cancelled": False, "reason": "missing"}
    return {"job_id": job_id, "cancelled": longjobs.cancel(job)}


@task(queue="maintenance")
def cleanup_old_podcast_jobs() -> dict[str, int]:
    """Periodic (daily): finished jobs older than PODCAST_RETENTION_DAYS, with their audio."""
    return {"deleted": longjobs.delete_old(PodcastJob, conf.get("PODCAST_RETENTION_DAYS"), "audio_file")}
