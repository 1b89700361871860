"""What ``TASKBRIDGE["BACKENDS"]`` means when a project leaves it unset: the migration
taskbridge was built for, Celery (the baseline) to RQ (the candidate)."""

from typing import Any

DEFAULT_BACKENDS: dict[str, dict[str, Any]] = {
    "celery": {"BACKEND": "taskbridge.backends.celery.backend.CeleryBackend"},
    "rq": {"BACKEND": "taskbridge.backends.rq.backend.RQBackend"},
}
