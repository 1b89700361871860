"""taskbridge's view of the Django settings, read in one place with defaults that work."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .queues import QueueSpec, parse_queues

BACKENDS = ("celery", "rq")

DEFAULTS: dict[str, Any] = {
    "QUEUES": {"default": {"timeout": 3600}},
    "DEFAULT_BACKEND": "celery",
    # The backends this project runs; drop "celery" when the migration is over.
    "BACKENDS": ("celery", "rq"),
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EVENT_LOG": None,
    "QUEUE_FLAG_PREFIX": "taskbridge.queue.",
    "TASK_FLAG_PREFIX": "taskbridge.task.",
    # How long a process may reuse a flag it read. Flips reach every process
    # within this time plus one cache round trip.
    "FLAG_CACHE_SECONDS": 0.5,
    # Seconds a job record (state, result) is kept after the job ends.
    "RESULT_TTL": 86400,
    # Celery's hard time limit is the job timeout plus this grace, so the soft
    # limit (raised inside the task) always fires first.
    "HARD_TIMEOUT_GRACE": 5,
    # A started job whose process has not renewed its lease for this long is
    # taken for lost (its whole worker died) and recorded as failed.
    "LEASE_SECONDS": 30,
    "SCHEDULE": {},
    # Extra `manage.py taskbridge` subcommands: {"name": "dotted.module"}.
    "COMMANDS": {},
}


def option(name: str) -> Any:
    return getattr(settings, "TASKBRIDGE", {}).get(name, DEFAULTS[name])


@lru_cache(maxsize=1)
def _queues_cached(key: int) -> dict[str, QueueSpec]:
    return parse_queues(option("QUEUES"))


def queues() -> dict[str, QueueSpec]:
    return _queues_cached(id(option("QUEUES")))


def queue(name: str) -> QueueSpec:
    try:
        return queues()[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"queue {name!r} is not in TASKBRIDGE['QUEUES'] (configured: {', '.join(queues())})"
        ) from None


def default_backend() -> str:
    backend = option("DEFAULT_BACKEND")
    if backend not in BACKENDS:
        raise ImproperlyConfigured(f"TASKBRIDGE['DEFAULT_BACKEND'] must be one of {BACKENDS}, got {backend!r}")
    return backend


def queue_flag_name(queue_name: str) -> str:
    return f"{option('QUEUE_FLAG_PREFIX')}{queue_name}"


def task_flag_name(task_name: str) -> str:
    return f"{option('TASK_FLAG_PREFIX')}{task_name}"
