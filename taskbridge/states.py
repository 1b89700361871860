"""The one state set a job has on either backend."""

from django.db import models


class TaskStatus(models.TextChoices):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    STARTED = "started"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_finished(self) -> bool:
        return self in FINISHED


ACTIVE = frozenset({TaskStatus.QUEUED, TaskStatus.SCHEDULED, TaskStatus.STARTED, TaskStatus.RETRYING})
FINISHED = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})
