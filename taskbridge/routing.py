"""Which backend a dispatch goes to, decided from the waffle flags.

A queue's flag (``taskbridge.queue.<queue>``) and, when present, a task's own
flag (``taskbridge.task.<dotted name>``) are read from the database, not from
waffle's per-request logic: waffle's percentage is a random cookie roll made
for browsers, while a task needs a deterministic bucket so that one entity
stays on one backend. The flags are re-read at most every
``FLAG_CACHE_SECONDS`` per process, which bounds how long a flip takes to
reach every web process and worker.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from . import conf


@dataclass(frozen=True, slots=True)
class FlagState:
    name: str
    everyone: bool | None
    percent: Decimal | None

    def describe(self) -> str:
        if self.everyone is True:
            return "rq"
        if self.everyone is False:
            return "celery"
        if self.percent is not None:
            return f"rq {float(self.percent):g}%"
        return "default"


@dataclass(frozen=True, slots=True)
class Route:
    backend: str
    reason: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.reason}"


def bucket(key: str) -> float:
    """A stable position in [0, 100) for a routing key, the same in every process."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000 / 100


def decide(flag: FlagState | None, routing_key: str, origin: str = "flag") -> Route | None:
    """The route a flag gives, or ``None`` when the flag does not decide."""
    if flag is None:
        return None
    if flag.everyone is True:
        return Route("rq", f"{origin}-everyone")
    if flag.everyone is False:
        return Route("celery", f"{origin}-everyone")
    if flag.percent is not None:
        backend = "rq" if bucket(routing_key) < float(flag.percent) else "celery"
        return Route(backend, f"{origin}-percent")
    return None


class FlagSnapshot:
    """The taskbridge flags of this process, refreshed from the database when stale."""

    def __init__(self) -> None:
        self._flags: dict[str, FlagState] = {}
        self._expires = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._expires = 0.0

    def get(self, name: str) -> FlagState | None:
        if time.monotonic() >= self._expires:
            self._refresh()
        return self._flags.get(name)

    def _refresh(self) -> None:
        from waffle import get_waffle_flag_model

        with self._lock:
            if time.monotonic() < self._expires:
                return
            ours = Q(name__startswith=conf.option("QUEUE_FLAG_PREFIX")) | Q(name__startswith=conf.option("TASK_FLAG_PREFIX"))
            rows = get_waffle_flag_model().objects.filter(ours).values_list("name", "everyone", "percent")
            self._flags = {name: FlagState(name, everyone, percent) for name, everyone, percent in rows}
            self._expires = time.monotonic() + conf.option("FLAG_CACHE_SECONDS")


flags = FlagSnapshot()


def route(task_name: str, queue_name: str, routing_key: str) -> Route:
    """The backend for one dispatch: task flag, then queue flag, then the default.

    A flag naming a backend the project no longer runs (Celery, after its
    removal) falls back to the default rather than failing the dispatch.
    """
    decided = decide(flags.get(conf.task_flag_name(task_name)), routing_key, "task-flag")
    if decided is None:
        decided = decide(flags.get(conf.queue_flag_name(queue_name)), routing_key, "flag")
    if decided is not None and decided.backend not in conf.backends():
        return Route(conf.default_backend(), f"{decided.reason}-names-disabled-{decided.backend}")
    return decided or Route(conf.default_backend(), "default")
