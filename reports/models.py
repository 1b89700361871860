"""Reports generated from a notebook's sources."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Report(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.PENDING, Status.RUNNING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports")
    notebook = models.ForeignKey("notebooks.Notebook", on_delete=models.CASCADE, related_name="reports")
    title = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    # str(TaskHandle) of the generation job (DeepSight's celery_task_id).
    task_handle = models.CharField(max_length=255, blank=True)
    # The validated, normalised configuration (reports.validation).
    configuration = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    content = models.TextField(blank=True)
    markdown_file = models.FileField(upload_to="reports/", max_length=512, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"
