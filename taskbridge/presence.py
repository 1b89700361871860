"""Which worker processes are alive, told by the workers themselves every few seconds.

RQ lists a worker until its key expires (45 s to minutes after a SIGKILL) and
Celery's broadcast only tells who answers. Each taskbridge worker's main
process instead renews a short-lived key (``taskbridge:alive:<alias>:<name>``,
``TASKBRIDGE["WORKER_TTL"]`` seconds) and keeps what it describes of itself
(host, pid, queues, the jobs it holds, its scheduler's name) in
``taskbridge:presence:<alias>``. A worker named there whose key has run out
has died; the reconciler (:mod:`taskbridge.reconcile`) hands back what it held
and takes it off the live lists.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

from . import conf
from .redis import connection

logger = logging.getLogger(__name__)

PRESENCE_PREFIX = "taskbridge:presence:"
ALIVE_PREFIX = "taskbridge:alive:"


@dataclass(frozen=True, slots=True)
class Presence:
    """What a worker last said about itself."""

    name: str
    host: str
    pid: int
    queues: tuple[str, ...]
    held: frozenset[str] = frozenset()
    scheduler: str | None = None
    since: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({
            "name": self.name, "host": self.host, "pid": self.pid, "queues": list(self.queues), "held": sorted(self.held),
            "scheduler": self.scheduler, "since": self.since, "extra": self.extra,
        })

    @classmethod
    def loads(cls, raw: bytes | str) -> Presence:
        data = json.loads(raw)
        return cls(
            name=data["name"], host=data.get("host", ""), pid=int(data.get("pid") or 0), queues=tuple(data.get("queues", ())),
            held=frozenset(data.get("held", ())), scheduler=data.get("scheduler"), since=float(data.get("since") or 0),
            extra=data.get("extra") or {},
        )


def ttl() -> float:
    return float(conf.option("WORKER_TTL"))


def _alive_key(alias: str, name: str) -> str:
    return f"{ALIVE_PREFIX}{alias}:{name}"


class Heartbeat:
    """Runs in a worker's main process: every fifth of :func:`ttl`, says the worker is alive
    and what it holds (``describe`` builds that). Redis being away only skips beats."""

    def __init__(self, alias: str, describe: Callable[[], Presence]) -> None:
        self.alias, self.describe = alias, describe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="taskbridge-heartbeat", daemon=True)
        self._pid = os.getpid()

    def start(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child (RQ's work horse) is not the worker
        me = self.describe()
        try:
            with connection().pipeline(transaction=True) as pipe:
                pipe.hset(PRESENCE_PREFIX + self.alias, me.name, me.dumps())
                pipe.set(_alive_key(self.alias, me.name), 1, px=int(ttl() * 1000))
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning("worker heartbeat missed: %s", exc)

    def _loop(self) -> None:
        while not self._stop.wait(ttl() / 5):
            self.beat()

    def stop(self, name: str) -> None:
        """A clean shutdown: the worker leaves the lists at once."""
        self._stop.set()
        try:
            forget(self.alias, name)
        except redis.RedisError:
            pass


def forget(alias: str, name: str) -> None:
    with connection().pipeline(transaction=True) as pipe:
        pipe.hdel(PRESENCE_PREFIX + alias, name)
        pipe.delete(_alive_key(alias, name))
        pipe.execute()


def read(alias: str) -> tuple[dict[str, Presence], dict[str, Presence]]:
    """(alive, dead) workers of a backend, by name, in one snapshot."""
    conn = connection()
    described = {name.decode(): Presence.loads(raw) for name, raw in conn.hgetall(PRESENCE_PREFIX + alias).items()}
    names = list(described)
    flags: list[int] = []
    if names:
        with conn.pipeline(transaction=True) as pipe:
            for name in names:
                pipe.exists(_alive_key(alias, name))
            flags = pipe.execute()
    alive = {n: described[n] for n, up in zip(names, flags or []) if up}
    dead = {n: described[n] for n, up in zip(names, flags or []) if not up}
    return alive, dead


def describe_self(name: str, queues: tuple[str, ...], held: frozenset[str] = frozenset(), scheduler: str | None = None,
                  since: float | None = None) -> Presence:
    return Presence(name=name, host=socket.gethostname(), pid=os.getpid(), queues=queues, held=held, scheduler=scheduler,
                    since=since or time.time())
