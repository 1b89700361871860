"""The backends, looked up by name ("celery", "rq"); each is imported only when used,
so a project that has removed Celery never imports it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .. import conf

if TYPE_CHECKING:
    from ..declaration import Task
    from .base import Backend

_PATHS = {"celery": "taskbridge.backends.celery.CeleryBackend", "rq": "taskbridge.backends.rq.RQBackend"}
_instances: dict[str, Backend] = {}


def enabled() -> tuple[str, ...]:
    return tuple(conf.option("BACKENDS"))


def get_backend(name: str) -> Backend:
    backend = _instances.get(name)
    if backend is None:
        if name not in enabled():
            raise LookupError(f"backend {name!r} is not enabled (TASKBRIDGE['BACKENDS'] = {enabled()})")
        module, _, cls = _PATHS[name].rpartition(".")
        backend = _instances[name] = getattr(importlib.import_module(module), cls)()
    return backend


def register_everywhere(task: Task) -> None:
    for name in enabled():
        get_backend(name).register(task)
