"""Starting podcast jobs (called by the views); cancelling is ``notebooks.longjobs.cancel``."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from notebooks.models import Notebook

from .models import PodcastJob
from .tasks import process_podcast_generation


def start(user: AbstractBaseUser, notebook: Notebook, title: str, segments: int) -> PodcastJob:
    """Create the job and dispatch its generation when the transaction commits."""
    with transaction.atomic():
        job = PodcastJob.objects.create(user=user, notebook=notebook, title=title, segments=segments)
        job.task_handle = str(process_podcast_generation.enqueue_on_commit(job.pk))
        job.save(update_fields=["task_handle"])
    return job
