"""System checks: the settings a side-by-side migration silently breaks on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import conf
from .periodic import check_schedule  # noqa: F401  (registers the schedule's check)

PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register()
def check_waffle_cache_is_shared(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """A flip saved in admin must reach every web process and worker: waffle's cache must be shared."""
    name = getattr(settings, "WAFFLE_CACHE_NAME", "default")
    backend = settings.CACHES.get(name, {}).get("BACKEND", "")
    if backend in PROCESS_LOCAL_CACHES or backend.endswith("FileBasedCache"):
        return [
            checks.Error(
                f"waffle's cache {name!r} uses {backend}, which each process keeps to itself: a flag flipped "
                "in admin would not reach the other web processes and workers.",
                hint="Point WAFFLE_CACHE_NAME at a shared cache (Redis, Memcached, database).",
                id="taskbridge.E001",
            )
        ]
    return []


@checks.register()
def check_queues(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    try:
        queues = conf.queues()
        conf.default_backend()
    except Exception as exc:
        return [checks.Error(str(exc), id="taskbridge.E002")]
    if conf.default_backend() not in conf.backends():
        errors.append(
            checks.Error(
                f"TASKBRIDGE['DEFAULT_BACKEND'] is {conf.default_backend()!r}, which is not in "
                f"TASKBRIDGE['BACKENDS'] {tuple(conf.backends())}",
                id="taskbridge.E005",
            )
        )
    rq_queues = getattr(settings, "RQ_QUEUES", {})
    for name in queues:
        if "rq" in conf.backends() and name not in rq_queues:
            errors.append(
                checks.Error(
                    f"queue {name!r} is in TASKBRIDGE['QUEUES'] but not in RQ_QUEUES",
                    hint="Derive RQ_QUEUES with taskbridge.queues.rq_queues(TASKBRIDGE['QUEUES'], REDIS_URL).",
                    id="taskbridge.E003",
                )
            )
        serializer = rq_queues.get(name, {}).get("SERIALIZER")
        if "rq" in conf.backends() and serializer not in ("rq.serializers.JSONSerializer",):
            errors.append(
                checks.Error(f"RQ queue {name!r} must use rq.serializers.JSONSerializer, not {serializer!r}", id="taskbridge.E004")
            )
    return errors
