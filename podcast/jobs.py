"""Starting and cancelling podcast jobs (called by the views and by cancel_podcast_generation)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from notebooks.models import Notebook
from taskbridge import TaskHandle

from .generation import move
from .models import PodcastJob
from .tasks import process_podcast_generation


def start(user: AbstractBaseUser, notebook: Notebook, title: str, segments: int) -> PodcastJob:
    """Create the job and dispatch its generation when the transaction commits."""
    with transaction.atomic():
        job = PodcastJob.objects.create(user=user, notebook=notebook, title=title, segments=segments)
        job.task_handle = str(process_podcast_generation.enqueue_on_commit(job.pk))
        job.save(update_fields=["task_handle"])
    return job


def cancel(job: PodcastJob) -> bool:
    """Stop the job through its stored handle, then mark it cancelled; False when it had
    already finished.

    The handle goes first: a task that notices the cancellation and returns
    then ends as ``cancelled`` in taskbridge too. Marking the row first would
    let it return in between and end as ``succeeded``."""
    job.refresh_from_db(fields=["status"])
    if job.status not in PodcastJob.ACTIVE:
        return False
    if job.task_handle:
        TaskHandle.from_string(job.task_handle).cancel()
    cancelled = move(job.pk, PodcastJob.ACTIVE, status=PodcastJob.Status.CANCELLED, completed_at=timezone.now())
    job.refresh_from_db()
    return cancelled
