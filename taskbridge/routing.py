"""Which backend a dispatch goes to, decided from the waffle flags.

A queue's flag (``taskbridge.queue.<queue>``) and, when present, a task's own
flag (``taskbridge.task.<dotted name>``) say which role gets a dispatch: Everyone
Yes = the candidate, No = the baseline, Unknown with a Percent = that share to
the candidate. They are read from the database, not from
waffle's per-request logic: waffle's percentage is a random cookie roll made
for browsers, while a task needs a deterministic bucket so that one entity
stays on one backend.

Each process keeps the flags in a :class:`FlagSnapshot` and reads the
database again only when they change. A route change is announced after its
commit (:func:`announce_change`): the flag version in Redis is incremented and
published; a listener thread in each long-lived process marks its snapshot
stale when the message comes, so the next dispatch re-reads the flags
(milliseconds after the save). A process that misses the message (no
listener yet, a dropped subscription, a short-lived process) compares the
version key at most every ``FLAG_CACHE_SECONDS`` when it routes, so it
converges within that bound; when Redis cannot be reached, it re-reads the
database every ``FLAG_CACHE_SECONDS`` as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import redis
from django.db.models import Q

from . import conf, events, flagread
from .redis import connection

logger = logging.getLogger(__name__)

#: Incremented with every route change (after its commit) and published on :data:`CHANNEL`.
VERSION_KEY = "taskbridge:flags:version"
CHANNEL = "taskbridge:flags"


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
    """The taskbridge flags of this process, re-read from the database when they changed.

    ``stale`` is set by :meth:`invalidate` (a change saved here, or announced by another
    process through the listener); otherwise the Redis version key is compared at most
    every ``FLAG_CACHE_SECONDS``. A process starts its listener at its second version
    check, so short-lived processes (an RQ work horse, a management command) never open a
    subscription; a forked child starts its own (threads do not survive a fork) and checks
    the version it inherited before trusting it.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset_after_fork)
        #: Database reads of the flags by this process (the benchmark reports them).
        self.reads = 0

    def _reset(self) -> None:
        self._flags: dict[str, FlagState] = {}
        self._version: bytes | None = None
        self._stale = True
        self._check_at = 0.0
        self._checks = 0
        self._listening = False
        self._pending: object | None = None
        self._lock = threading.Lock()

    def _reset_after_fork(self) -> None:
        flags, version, stale = self._flags, self._version, self._stale
        self._reset()
        self._flags, self._version, self._stale = flags, version, stale  # checked at the first use

    def invalidate(self, pending: object | None = None) -> None:
        """Read the flags again at the next use. ``pending``: the transaction (its outermost
        atomic block) holding an uncommitted change of this process; the flags are read
        again once it has ended, committed or rolled back (a commit also announces it)."""
        self._stale = True
        if pending is not None:
            self._pending = pending

    def get(self, name: str) -> FlagState | None:
        if self._pending is not None and outermost_transaction() is not self._pending:
            self._pending = None  # what was read inside it may never have been committed
            self._stale = True
        if self._stale:
            self._refresh()
        elif time.monotonic() >= self._check_at:
            self._check()
        return self._flags.get(name)

    def _check(self) -> None:
        """The version key decides whether the database must be read again."""
        self._checks += 1
        if self._checks >= 2 and not self._listening:
            self._listen()
        current = _version()
        if current is None or current != self._version:
            self._refresh(current)  # no version to compare: read the database, as often as before
        else:
            self._check_at = time.monotonic() + conf.option("FLAG_CACHE_SECONDS")

    def _refresh(self, version: bytes | None | object = ...) -> None:
        from waffle import get_waffle_flag_model

        with self._lock:
            self._stale = False  # before reading, so a change announced meanwhile is read next time
            if version is ...:
                version = _version()
            ours = Q(name__startswith=conf.option("QUEUE_FLAG_PREFIX")) | Q(name__startswith=conf.option("TASK_FLAG_PREFIX"))
            try:
                rows = flagread.read(lambda: list(get_waffle_flag_model().objects.filter(ours).values_list("name", "everyone", "percent")))
            except flagread.FlagReadError as exc:
                # Route by the last flags read rather than hang or fail the dispatch; say so, and
                # try again at the next version check (the version kept is the old one).
                self._check_at = time.monotonic() + conf.option("FLAG_CACHE_SECONDS")
                events.emit(events.ROUTE_STALE, error=str(exc), flags=len(self._flags))
                return
            self._flags = {name: FlagState(name, everyone, percent) for name, everyone, percent in rows}
            self._version = version
            self.reads += 1
            self._check_at = time.monotonic() + conf.option("FLAG_CACHE_SECONDS")

    def _listen(self) -> None:
        self._listening = True
        threading.Thread(target=self._listener, name="taskbridge-flags", daemon=True).start()

    def _listener(self) -> None:
        """Marks the snapshot stale for every announced change; reconnects after an error
        (changes missed meanwhile are caught by the version check)."""
        while True:
            # Its own client, without the read timeout of taskbridge's (a subscription waits for
            # hours between messages); health checks notice a dead server instead.
            client = redis.Redis.from_url(
                conf.option("REDIS_URL"), socket_connect_timeout=float(conf.option("REDIS_TIMEOUT")), health_check_interval=30,
            )
            try:
                with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(CHANNEL)
                    for message in pubsub.listen():
                        if message["type"] == "message":
                            self._stale = True
            except Exception:  # noqa: BLE001 - whatever broke the subscription, subscribe again
                logger.debug("flag change subscription lost; subscribing again", exc_info=True)
                time.sleep(1)


#: How long the dispatch path waits for the flags' version: a stalled Redis must not add a
#: whole ``REDIS_TIMEOUT`` to every dispatch for what only decides whether to read the database.
VERSION_TIMEOUT = 0.25
_version_client: tuple[str, redis.Redis] | None = None


def _version() -> bytes | None:
    """The flags' version in Redis, or ``None`` when Redis does not answer within :data:`VERSION_TIMEOUT`."""
    global _version_client
    url = conf.option("REDIS_URL")
    if _version_client is None or _version_client[0] != url:
        client = redis.Redis.from_url(url, socket_timeout=VERSION_TIMEOUT, socket_connect_timeout=VERSION_TIMEOUT)
        _version_client = (url, client)
    try:
        return _version_client[1].get(VERSION_KEY) or b"0"
    except redis.RedisError:
        return None


def outermost_transaction() -> object | None:
    """The outermost atomic block this thread's database connection is in, if any."""
    from django.db import transaction

    blocks = transaction.get_connection().atomic_blocks
    return blocks[0] if blocks else None


def announce_change() -> None:
    """Tell every process that a route changed: called once the change is committed. This
    process's snapshot is stale at once; a failure to reach Redis only delays the others
    until their next database read."""
    flags.invalidate()
    try:
        with connection().pipeline(transaction=True) as pipe:
            pipe.incr(VERSION_KEY)
            pipe.publish(CHANNEL, b"changed")
            pipe.execute()
    except redis.RedisError:
        logger.warning("could not announce a route change in Redis; other processes re-read the flags "
                       "within FLAG_CACHE_SECONDS once it is reachable", exc_info=True)


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
