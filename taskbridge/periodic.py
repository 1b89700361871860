"""Periodic tasks: one schedule in settings, fired by Celery beat and rq-scheduler, run once per period.

``TASKBRIDGE["SCHEDULE"]`` maps an entry name to a declared taskbridge task,
its arguments and a timing (``every`` seconds, or a five-field ``cron``
expression in UTC). Every backend's scheduler is fed from it (the Celery backend
builds beat's schedule, the RQ backend syncs rq-scheduler's jobs; each in its
package's ``periodic`` module) and each fires the same thing: a *tick* for the entry, carrying the entry
itself and the moment the scheduler fired.

A tick (:func:`tick`) turns the fire time into a *period* (interval: the
multiple of ``every`` since the epoch it falls in; cron: the latest cron time
at or before it), decides the route exactly like a dispatch (the task's flag,
then its queue's flag; the routing key ``<entry>:<period start>`` makes a
percentage route give the same answer for the same period everywhere), claims
the period in Redis with one atomic script and, only when the claim is its,
dispatches the task to the routed backend with the fixed job id
``periodic-<entry>-<period start>``. Every other tick of that period (the
other scheduler, a scheduler that fired twice) records ``task.skipped`` with
the reason. See ``docs/periodic.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from django.core.exceptions import ImproperlyConfigured

from . import arguments, conf, correlation, events, registry, routing
from .sending import send
from .message import Message
from .redis import connection

if TYPE_CHECKING:
    from .declaration import Task
    from .routing import Route

#: Period claims: ``taskbridge:period:<entry>:<period start>``.
CLAIM_PREFIX = "taskbridge:period:"
#: A tick that runs this many periods after its period began is dropped.
LATE_PERIODS = 2

SKIP_CLAIMED = "period already claimed"
SKIP_LATE = "periodic tick too late"

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_KEYS = ("task", "every", "cron", "args", "kwargs")
_TASK_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _where(name: Any) -> str:
    return f"TASKBRIDGE['SCHEDULE'][{name!r}]"


@dataclass(frozen=True, slots=True)
class Timing:
    """When an entry fires: every ``every`` seconds since the epoch, or at ``cron`` times (UTC)."""

    every: int | None = None
    cron: str | None = None

    def period_start(self, t: float) -> float:
        """The start of the period ``t`` falls in (a period includes its start)."""
        if self.every is not None:
            return float(math.floor(t / self.every) * self.every)
        from croniter import croniter

        start = croniter(self.cron, t).get_prev(float)
        following = croniter(self.cron, start).get_next(float)
        return following if following <= t else start

    def next_start(self, t: float) -> float:
        """The first period start strictly after ``t``."""
        if self.every is not None:
            return float((math.floor(t / self.every) + 1) * self.every)
        from croniter import croniter

        return croniter(self.cron, t).get_next(float)

    def length(self, start: float) -> float:
        """Seconds from the period starting at ``start`` to the next one."""
        return self.next_start(start) - start

    def describe(self) -> str:
        return f"every {self.every} s" if self.every is not None else f"cron {self.cron!r} (UTC)"

    def as_dict(self) -> dict[str, Any]:
        return {"every": self.every} if self.every is not None else {"cron": self.cron}

    @classmethod
    def parse(cls, where: str, every: Any, cron: Any) -> Timing:
        if (every is None) == (cron is None):
            raise ImproperlyConfigured(f"{where}: give exactly one of 'every' (seconds) or 'cron' (five fields, UTC)")
        if every is not None:
            if isinstance(every, bool) or not isinstance(every, int) or every < 1:
                raise ImproperlyConfigured(f"{where}: 'every' must be a whole number of seconds >= 1, got {every!r}")
            return cls(every=every)
        from croniter import croniter

        if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ImproperlyConfigured(
                f"{where}: 'cron' must be a valid five-field cron expression "
                f"(minute hour day-of-month month day-of-week, UTC), got {cron!r}"
            )
        return cls(cron=" ".join(cron.split()))


@dataclass(frozen=True)
class Entry:
    """One schedule entry, validated. What both schedulers carry in every tick (:meth:`as_message`)."""

    name: str
    task: str
    timing: Timing
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    # -- the periods
    def period_start(self, t: float) -> float:
        return self.timing.period_start(t)

    def job_id(self, period_start: float) -> str:
        """The job id of the run of one period: the same on both backends and in every event."""
        return f"periodic-{self.name}-{int(period_start)}"

    def claim_key(self, period_start: float) -> str:
        return f"{CLAIM_PREFIX}{self.name}:{int(period_start)}"

    def routing_key(self, period_start: float) -> str:
        return f"{self.name}:{int(period_start)}"

    def describe(self) -> str:
        return f"{self.task} {self.timing.describe()}"

    # -- (de)serialising: settings and tick messages have the same shape
    def as_message(self) -> dict[str, Any]:
        return {
            "name": self.name, "task": self.task, **self.timing.as_dict(),
            "args": list(self.args), "kwargs": dict(self.kwargs),
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Entry:
        if not isinstance(message, Mapping) or "name" not in message:
            raise ValueError(f"not a periodic tick message: {message!r}")
        return cls.from_setting(message["name"], {k: v for k, v in message.items() if k != "name"})

    @classmethod
    def from_setting(cls, name: Any, raw: Any) -> Entry:
        where = _where(name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ImproperlyConfigured(
                f"{where}: an entry name must be 1-100 letters, digits, '_' or '-' (it is part of job ids)"
            )
        if not isinstance(raw, Mapping):
            raise ImproperlyConfigured(f"{where}: must be a dict with 'task' and 'every' or 'cron', got {raw!r}")
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_KEYS)}")
        task = raw.get("task")
        if not isinstance(task, str) or not _TASK_PATH.match(task):
            raise ImproperlyConfigured(f"{where}: 'task' must be the dotted path of a taskbridge task, got {task!r}")
        timing = Timing.parse(where, raw.get("every"), raw.get("cron"))
        args = raw.get("args", [])
        if not isinstance(args, (list, tuple)):
            raise ImproperlyConfigured(f"{where}: 'args' must be a list, got {type(args).__name__}")
        kwargs = raw.get("kwargs", {})
        if not isinstance(kwargs, Mapping):
            raise ImproperlyConfigured(f"{where}: 'kwargs' must be a dict, got {type(kwargs).__name__}")

        try:
            arguments.validate(task, tuple(args), dict(kwargs))
        except arguments.ArgumentError as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from None
        return cls(name=name, task=task, timing=timing, args=tuple(args), kwargs=dict(kwargs))


def parse_schedule(raw: Any) -> dict[str, Entry]:
    """Validate a ``TASKBRIDGE["SCHEDULE"]`` value; errors name the entry."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"TASKBRIDGE['SCHEDULE'] must be a dict of entry name -> entry, got {type(raw).__name__}")
    return {name: Entry.from_setting(name, spec) for name, spec in raw.items()}


def entries() -> dict[str, Entry]:
    """The configured schedule, validated (structure only; see :func:`resolve` for the tasks)."""
    return parse_schedule(conf.option("SCHEDULE"))


def resolve(entry: Entry) -> Task:
    """The declared task an entry runs, with its arguments checked against the signature."""

    task = registry.get(entry.task)
    if task is None:
        raise ImproperlyConfigured(
            f"{_where(entry.name)}: {entry.task!r} is not a declared taskbridge task "
            "(no @task function by that dotted path could be imported)"
        )
    try:
        task.bind(tuple(entry.args), dict(entry.kwargs))
    except TypeError as exc:
        raise ImproperlyConfigured(f"{_where(entry.name)}: args/kwargs do not match {task.name}: {exc}") from None
    return task


# -- the period claim ---------------------------------------------------------------------------

# KEYS[1] claim; ARGV: value ttl_ms. Returns nil when claimed now, else the holder's value.
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS[1] claim; ARGV: value. Deletes the claim only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_scripts: tuple[Any, Any, Any] | None = None


def _claim_scripts() -> tuple[Any, Any]:

    global _scripts
    conn = connection()
    if _scripts is None or _scripts[0] is not conn:
        _scripts = (conn, conn.register_script(_CLAIM), conn.register_script(_RELEASE))
    return _scripts[1], _scripts[2]


def claim_ttl(entry: Entry, period_start: float) -> float:
    """How long a claim lives: past the latest moment a tick of the period may still run."""
    return (LATE_PERIODS + 1) * entry.timing.length(period_start) + 60


def claim(entry: Entry, period_start: float, holder: Mapping[str, Any]) -> dict[str, Any] | None:
    """Claim a period atomically; ``None`` when it is ours now, else who holds it."""
    claim_script, _ = _claim_scripts()
    value = json.dumps(dict(holder), sort_keys=True)
    held = claim_script(keys=[entry.claim_key(period_start)], args=[value, int(claim_ttl(entry, period_start) * 1000)])
    if held is None:
        return None
    try:
        return json.loads(held)
    except ValueError:
        return {"scheduler": "unknown", "backend": "unknown", "raw": held.decode(errors="replace")}


def release(entry: Entry, period_start: float, holder: Mapping[str, Any]) -> None:
    _, release_script = _claim_scripts()
    release_script(keys=[entry.claim_key(period_start)], args=[json.dumps(dict(holder), sort_keys=True)])


# -- the tick -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickOutcome:
    entry: str
    period_start: float
    job_id: str
    action: str  # "dispatched" or "skipped"
    backend: str | None = None
    reason: str | None = None
    claimed_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry, "period_start": self.period_start, "job_id": self.job_id, "action": self.action,
            "backend": self.backend, "reason": self.reason, "claimed_by": self.claimed_by,
        }


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _send(task: Task, entry: Entry, job_id: str, decided: Route, correlation_id: str):
    """Dispatch the period's run to the backend the tick routed it to (taskbridge's own send path)."""

    message = Message(
        task=task,
        args=tuple(entry.args),
        kwargs=dict(entry.kwargs),
        job_id=job_id,
        fixed_id=True,
        correlation_id=correlation_id,
        route=f"{decided.backend}:periodic-{decided.reason}",
        enqueued_at=time.time(),
        eta=None,
    )
    return send(message, decided.backend)


def tick(entry: Entry, scheduler: str, fired_at: float | None = None, *, now: float | None = None) -> TickOutcome:
    """One scheduler fire of ``entry``: run the period once, on the routed backend, or record why not.

    ``scheduler`` is the alias of the backend whose scheduler fired (Celery
    beat, rq-scheduler); ``fired_at`` is when it fired (the period is taken from it,
    so a tick that waits in a queue still belongs to the period it was fired
    for). Safe to call any number of times per period from any process.
    """

    if scheduler not in conf.backends():
        raise ValueError(f"scheduler must be a configured backend {tuple(conf.backends())}, got {scheduler!r}")
    now = time.time() if now is None else now
    fired_at = now if fired_at is None else float(fired_at)
    task = resolve(entry)
    start = entry.period_start(fired_at)
    job_id = entry.job_id(start)
    correlation_id = correlation.get_or_new()
    subject = events.Subject(scheduler, task.queue, task.name, job_id, 1, correlation_id)
    common = {"entry": entry.name, "period": _iso(start), "scheduler": scheduler}

    limit = LATE_PERIODS * entry.timing.length(start)
    if now - start >= limit:
        events.emit(events.SKIPPED, subject, reason=SKIP_LATE, late_s=round(now - start, 3), limit_s=limit, **common)
        return TickOutcome(entry.name, start, job_id, "skipped", scheduler, SKIP_LATE)

    decided = routing.route(task.name, task.queue, entry.routing_key(start))
    holder = {
        "scheduler": scheduler, "backend": decided.backend, "job_id": job_id, "fired_at": fired_at,
        "claimed_at": now, "pid": os.getpid(), "host": socket.gethostname(),
    }
    held = claim(entry, start, holder)
    if held is not None:
        events.emit(events.SKIPPED, dataclasses.replace(subject, backend=held.get("backend")), reason=SKIP_CLAIMED, claimed_by=held.get("scheduler"), **common)
        return TickOutcome(entry.name, start, job_id, "skipped", held.get("backend"), SKIP_CLAIMED, held.get("scheduler"))
    try:
        _send(task, entry, job_id, decided, correlation_id)
    except BaseException:
        # Nothing was enqueued: let the next tick of this period (the other scheduler) try.
        release(entry, start, holder)
        raise
    return TickOutcome(entry.name, start, job_id, "dispatched", decided.backend)


# -- system check -----------------------------------------------------------------------------------


def check_schedule(app_configs: Any = None, **_: Any) -> list[Any]:
    """``manage.py check``: every entry well-formed, its task declared, its arguments fitting."""
    from django.core import checks

    try:
        schedule = entries()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="taskbridge.E020")]
    problems = []
    for entry in schedule.values():
        try:
            resolve(entry)
        except ImproperlyConfigured as exc:
            problems.append(checks.Error(str(exc), id="taskbridge.E021"))
    return problems


def _register_check() -> None:
    from django.core import checks

    checks.register(check_schedule)


_register_check()
