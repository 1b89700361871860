"""Podcast generation jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PodcastJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        GENERATING = "generating"
        COMPLETED = "completed"
        ERROR = "error"
        CANCELLED = "cancelled"

    ACTIVE = (Status.PENDING, Status.GENERATING)
    FINISHED = (Status.COMPLETED, Status.ERROR, Status.CANCELLED)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="podcast_jobs")
    notebook = models.ForeignKey("notebooks.Notebook", on_delete=models.CASCADE, related_name="podcast_jobs")
    title = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    # str(TaskHandle) of the generation job (DeepSight's celery_task_id): status and cancel go through it.
    task_handle = models.CharField(max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(default=6)
    progress = models.PositiveSmallIntegerField(default=0)
    transcript = models.TextField(blank=True)
    audio_file = models.FileField(upload_to="podcasts/", max_length=512, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"
