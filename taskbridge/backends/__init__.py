"""The backends, looked up by alias in ``TASKBRIDGE["BACKENDS"]``; each is imported only
when used, so a project that has removed one never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from .. import conf

if TYPE_CHECKING:
    from .base import Backend

#: What ``TASKBRIDGE["BACKENDS"]`` means when unset: the migration this project was built for.
DEFAULT_BACKENDS: dict[str, dict[str, Any]] = {
    "celery": {"BACKEND": "taskbridge.backends.celery.CeleryBackend"},
    "rq": {"BACKEND": "taskbridge.backends.rq.RQBackend"},
}

_instances: dict[str, Backend] = {}


def enabled() -> tuple[str, ...]:
    return tuple(conf.backends())


def get_backend(name: str) -> Backend:
    backend = _instances.get(name)
    if backend is None:
        configured = conf.backends()
        if name not in configured:
            raise LookupError(f"backend {name!r} is not enabled (TASKBRIDGE['BACKENDS'] = {tuple(configured)})")
        backend = _instances[name] = import_string(configured[name]["BACKEND"])()
    return backend


def register_everywhere(task: Any) -> None:
    for name in enabled():
        get_backend(name).register(task)
