"""Notebooks, their sources (knowledge-base items) and batch imports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notebook(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notebooks")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    # The knowledge-index dataset this notebook's sources are uploaded to (RAGFlow's dataset id).
    index_dataset_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class KnowledgeBaseItemManager(models.Manager):
    def touch(self, item_id: int, **fields: Any) -> None:
        """Set ``fields`` on one item and bump its ``updated_at``, in one UPDATE."""
        self.filter(pk=item_id).update(updated_at=timezone.now(), **fields)

    def parsed(self, notebook_id: int) -> list[KnowledgeBaseItem]:
        """A notebook's sources with extracted text, oldest first: what podcasts and reports are made from."""
        items = self.filter(notebook_id=notebook_id, parsing_status=KnowledgeBaseItem.ParsingStatus.DONE).order_by("created_at")
        return [item for item in items if item.content.strip()]


class KnowledgeBaseItem(models.Model):
    """One source of a notebook: what was fetched or uploaded, its extracted text, and
    three independent status fields (parsing, image captioning, knowledge index)."""

    class ContentType(models.TextChoices):
        WEBPAGE = "webpage"
        DOCUMENT = "document"
        MEDIA = "media"
        FILE = "file"

    class ParsingStatus(models.TextChoices):
        QUEUEING = "queueing"
        PARSING = "parsing"
        DONE = "done"
        FAILED = "failed"

    class CaptioningStatus(models.TextChoices):
        NONE = "", "not started"
        PENDING = "pending"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        NOT_REQUIRED = "not_required"

    class IndexStatus(models.TextChoices):
        PENDING = "pending"
        UPLOADING = "uploading"
        PARSING = "parsing"
        COMPLETED = "completed"
        FAILED = "failed"

    notebook = models.ForeignKey(Notebook, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=512)
    content_type = models.CharField(max_length=20, choices=ContentType.choices, default=ContentType.WEBPAGE)
    source_url = models.URLField(max_length=2048, blank=True)
    # The client-side id of the upload (DeepSight's upload_url_id / upload_file_id).
    upload_id = models.CharField(max_length=64, blank=True, db_index=True)
    parsing_status = models.CharField(max_length=20, choices=ParsingStatus.choices, default=ParsingStatus.QUEUEING, db_index=True)
    captioning_status = models.CharField(max_length=20, choices=CaptioningStatus.choices, default=CaptioningStatus.NONE, blank=True)
    index_status = models.CharField(max_length=20, choices=IndexStatus.choices, default=IndexStatus.PENDING, db_index=True)
    index_document_id = models.CharField(max_length=255, blank=True)
    content = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Storage keys: the extracted Markdown, and the original bytes as fetched or uploaded.
    file_object_key = models.CharField(max_length=512, blank=True)
    original_file_object_key = models.CharField(max_length=512, blank=True)
    source_hash = models.CharField(max_length=64, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = KnowledgeBaseItemManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["notebook", "parsing_status"]), models.Index(fields=["notebook", "upload_id"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.content_type})"


class BatchJob(models.Model):
    """Several sources added in one request; its counters follow its items."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"
        PARTIALLY_COMPLETED = "partially_completed"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.PARTIALLY_COMPLETED)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_jobs")
    notebook = models.ForeignKey(Notebook, on_delete=models.CASCADE, related_name="batch_jobs")
    job_type = models.CharField(max_length=20, default="url")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    total_items = models.PositiveIntegerField(default=0)
    completed_items = models.PositiveIntegerField(default=0)
    failed_items = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.status})"


class BatchItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    batch_job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="items")
    item_data = models.JSONField(default=dict, blank=True)
    kb_item = models.ForeignKey(KnowledgeBaseItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="batch_items")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"batch item {self.pk} ({self.status})"
