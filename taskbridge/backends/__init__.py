"""The backends, looked up by alias in ``TASKBRIDGE["BACKENDS"]``; each is imported only
when used, so a project that has removed one never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from .. import conf
from ..errors import BackendNotConfigured

if TYPE_CHECKING:
    from .base import Backend

_instances: dict[str, Backend] = {}


def enabled() -> tuple[str, ...]:
    return tuple(conf.backends())


def get_backend(name: str) -> Backend:
    """The backend configured under alias ``name`` (one instance per process)."""
    backend = _instances.get(name)
    if backend is None:
        configured = conf.backends()
        if name not in configured:
            raise BackendNotConfigured(f"backend {name!r} is not configured (TASKBRIDGE['BACKENDS'] = {tuple(configured)})")
        params = configured[name]
        backend = _instances[name] = import_string(params["BACKEND"])(name, params)
    return backend


def all_backends() -> list[Backend]:
    return [get_backend(name) for name in enabled()]


def alias_of(path: str) -> str:
    """The alias the backend class at dotted ``path`` is configured under: worker-side code of
    a backend (which runs without a dispatch telling it) names itself in events and records by it."""
    for alias, params in conf.backends().items():
        if params["BACKEND"] == path:
            return alias
    raise BackendNotConfigured(f"{path} is not in TASKBRIDGE['BACKENDS'] {tuple(conf.backends())}")
