"""taskbridge's view of the Django settings, read in one place with defaults that work.

The backends are named by the project (``TASKBRIDGE["BACKENDS"]``, alias →
``{"BACKEND": dotted path}``) and play two roles: the *baseline*, the backend
the team migrates from, and the *candidate*, the one it migrates to. Code
outside ``taskbridge.backends`` speaks only of these roles and aliases.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .backends.defaults import DEFAULT_BACKENDS
from .queues import QueueSpec, parse_queues

DEFAULTS: dict[str, Any] = {
    "QUEUES": {"default": {"timeout": 3600}},
    # alias -> {"BACKEND": "dotted.path.Class", ...options}; None: taskbridge.backends.defaults.
    "BACKENDS": None,
    # The backend migrated from (no flag, or a flag saying No) and the one migrated to (Yes / Percent).
    # None: the first and second alias of BACKENDS. When the migration is over, both name the same one.
    "BASELINE": None,
    "CANDIDATE": None,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EVENT_LOG": None,
    # Events kept in the live Redis stream the guard reads (about; 0 turns the stream and /metrics counts off).
    "LIVE_STREAM_MAXLEN": 100_000,
    # The live guard and ramp (taskbridge.guard; docs/guard.md). Keys missing here take guard.DEFAULTS.
    "GUARD": {},
    # Bearer token that may read /metrics besides staff users (None: staff only).
    "METRICS_TOKEN": None,
    "QUEUE_FLAG_PREFIX": "taskbridge.queue.",
    "TASK_FLAG_PREFIX": "taskbridge.task.",
    # A route change is published when it commits; a process that misses the message
    # compares the flag version in Redis at most this often, so every flip reaches every
    # process within this time (without Redis: the flags are re-read this often).
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
    # Largest size of a task's arguments, as JSON (bytes). They stay in Redis for the job's
    # life and are copied into retries and events; bigger data goes to storage, passed by key.
    "MAX_ARGUMENT_BYTES": 256 * 1024,
    # Extra `manage.py taskbridge` subcommands: {"name": "dotted.module"}.
    "COMMANDS": {},
    # Connect and read timeout (seconds) of every Redis call taskbridge makes on the dispatch path;
    # the broker's own calls (Celery publish) get the same. A dispatch never waits longer for Redis.
    "REDIS_TIMEOUT": 3.0,
    # Longest wait (seconds) for the flags from the database when routing; past it the last flags
    # read are used (and a route.stale event says so).
    "FLAG_READ_TIMEOUT": 2.0,
    # A worker that has not said it is alive for this many seconds is taken for dead (taskbridge.presence).
    "WORKER_TTL": 10,
    # Seconds between the reconciler's passes (taskbridge.reconcile).
    "RECONCILE_INTERVAL": 2.0,
    # How long a queued job may be held by no queue, registry or worker before the reconciler
    # sends it again (and how long a message may sit with no live worker holding it).
    "RECONCILE_GRACE": 10.0,
}


def option(name: str) -> Any:
    return getattr(settings, "TASKBRIDGE", {}).get(name, DEFAULTS[name])


def backends() -> dict[str, dict[str, Any]]:
    """The configured backends, alias -> options (each with its ``BACKEND`` dotted path)."""
    configured = option("BACKENDS")
    if configured is None:
        return DEFAULT_BACKENDS
    if not isinstance(configured, dict) or not configured:
        raise ImproperlyConfigured(
            f"TASKBRIDGE['BACKENDS'] must map an alias to {{'BACKEND': 'dotted.path'}}, got {configured!r}"
        )
    for alias, params in configured.items():
        if not isinstance(params, dict) or not isinstance(params.get("BACKEND"), str):
            raise ImproperlyConfigured(f"TASKBRIDGE['BACKENDS'][{alias!r}] needs a 'BACKEND' dotted path, got {params!r}")
    return configured


def _role(key: str, position: int) -> str:
    aliases = list(backends())
    name = option(key)
    if name is None:
        name = aliases[min(position, len(aliases) - 1)]
    if name not in aliases:
        raise ImproperlyConfigured(f"TASKBRIDGE[{key!r}] is {name!r}, which is not in TASKBRIDGE['BACKENDS'] {tuple(aliases)}")
    return name


def baseline() -> str:
    """The alias of the backend the project migrates from; unflagged queues run there."""
    return _role("BASELINE", 0)


def candidate() -> str:
    """The alias of the backend the project migrates to."""
    return _role("CANDIDATE", 1)


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


def queue_flag_name(queue_name: str) -> str:
    return f"{option('QUEUE_FLAG_PREFIX')}{queue_name}"


def task_flag_name(task_name: str) -> str:
    return f"{option('TASK_FLAG_PREFIX')}{task_name}"
