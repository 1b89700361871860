"""System checks: the settings a side-by-side migration silently breaks on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import conf
from .backends import all_backends
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
def check_backends(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """The queues parse, both roles name configured backends, and each backend is happy."""
    try:
        conf.queues()
        conf.baseline()
        conf.candidate()
        found = all_backends()
    except Exception as exc:
        return [checks.Error(str(exc), id="taskbridge.E002")]
    return [message for backend in found for message in backend.check()]
