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


@checks.register(deploy=True)
def check_redis_durability(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """The Redis that holds queues, messages and job records must persist them and never evict
    them (docs/operations.md, "The broker Redis must keep its data")."""
    import redis

    from .redis import connection

    try:
        config = connection().config_get("appendonly", "maxmemory-policy")
    except redis.RedisError as exc:
        return [checks.Warning(f"could not read the Redis configuration: {exc}", id="taskbridge.W012")]
    found: list[checks.CheckMessage] = []
    if config.get("appendonly") != "yes":
        found.append(checks.Warning(
            "Redis runs without AOF persistence (appendonly no): a restart loses every queued and scheduled job and "
            "every job record.", hint="Set appendonly yes (appendfsync everysec).", id="taskbridge.W010"))
    if config.get("maxmemory-policy") != "noeviction":
        found.append(checks.Warning(
            f"Redis maxmemory-policy is {config.get('maxmemory-policy')!r}: under memory pressure it may evict queued "
            "messages, job records and leases.", hint="Set maxmemory-policy noeviction.", id="taskbridge.W011"))
    return found
