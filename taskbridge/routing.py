"""Which backend a dispatch goes to, decided from the waffle flags.

A queue's flag (``taskbridge.queue.<queue>``) and, when present, a task's own
flag (``taskbridge.task.<dotted name>``) say which role gets a dispatch: Everyone
Yes = the candidate, No = the baseline, Unknown with a Percent = that share to
the candidate. They are read from the database, not from
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

from . import conf, events, flagread


@dataclass(frozen=True, slots=True)
class FlagState:
    name: str
    everyone: bool | None
    percent: Decimal | None

    def describe(self) -> str:
        """The route in the configured names: ``rq``, ``celery``, ``rq 25%`` or ``default``."""
        if self.everyone is True:
            return conf.candidate()
        if self.everyone is False:
            return conf.baseline()
        if self.percent is not None:
            return f"{conf.candidate()} {float(self.percent):g}%"
        return "default"

    @property
    def share(self) -> float | None:
        """The candidate's share of new dispatches in percent, ``None`` when the flag does not decide."""
        if self.everyone is not None:
            return 100.0 if self.everyone else 0.0
        return float(self.percent) if self.percent is not None else None


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
    if flag.everyone is not None:
        return Route(conf.candidate() if flag.everyone else conf.baseline(), f"{origin}-everyone")
    if flag.percent is not None:
        backend = conf.candidate() if bucket(routing_key) < float(flag.percent) else conf.baseline()
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
            try:
                rows = flagread.read(lambda: list(get_waffle_flag_model().objects.filter(ours).values_list("name", "everyone", "percent")))
            except flagread.FlagReadError as exc:
                # Route by the last flags read rather than hang or fail the dispatch; say so.
                self._expires = time.monotonic() + conf.option("FLAG_CACHE_SECONDS")
                events.emit(events.ROUTE_STALE, error=str(exc), flags=len(self._flags))
                return
            self._flags = {name: FlagState(name, everyone, percent) for name, everyone, percent in rows}
            self._expires = time.monotonic() + conf.option("FLAG_CACHE_SECONDS")


flags = FlagSnapshot()


def route(task_name: str, queue_name: str, routing_key: str) -> Route:
    """The backend for one dispatch: task flag, then queue flag, then the baseline.

    A flag says *candidate* or *baseline*, never a backend's name, so when the
    migration is over (both roles name the same backend) every flag leads there.
    """
    decided = decide(flags.get(conf.task_flag_name(task_name)), routing_key, "task-flag")
    if decided is None:
        decided = decide(flags.get(conf.queue_flag_name(queue_name)), routing_key, "flag")
    return decided or Route(conf.baseline(), "default")


def describe(queue_name: str) -> str:
    """A queue's route as the cockpit shows it: ``celery``, ``rq``, ``rq 25%`` or ``default (celery)``."""
    flag = flags.get(conf.queue_flag_name(queue_name))
    route = flag.describe() if flag else "default"
    return f"default ({conf.baseline()})" if route == "default" else route
