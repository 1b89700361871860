"""Job records in Redis: the state of every job in one state set, whichever backend runs it.

Celery's result backend cannot tell "queued" from "unknown" and RQ's statuses
differ from Celery's, so taskbridge keeps its own small record per job
(``taskbridge:job:<id>``, a hash), written at dispatch, at each execution step
and on cancel. The transitions that race (claiming a fixed job id, a worker
starting a job that is being cancelled, a job ending while it is cancelled or
found lost) are single Lua scripts, so they are atomic on the Redis server; a
job ends once. While a job runs, the process running it renews a lease
(``taskbridge:lease:<id>``); a started job without one has lost its process.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from . import conf
from .redis import connection
from .states import TaskStatus
from .watchdog import watchdog

KEY_PREFIX = "taskbridge:job:"
LEASE_PREFIX = "taskbridge:lease:"
#: Every job dispatched and not yet seen ended, scored by dispatch time: what the reconciler
#: (:mod:`taskbridge.reconcile`) walks. Ended jobs are dropped from it by the reconciler.
ACTIVE_INDEX = "taskbridge:active"
ACTIVE_TTL = 7 * 86400

_ACTIVE_STATES = "queued scheduled started retrying"

#: What :meth:`Ledger.begin` returns for a delivery of a job that was moved to another backend.
MOVED = "moved"

# KEYS[1] record, KEYS[2] active index; ARGV: backend queue task state ttl now correlation_id payload
# Returns nil when claimed, or {backend, queue, state} of the job that holds the id.
_CLAIM = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if state and string.find(' {_ACTIVE_STATES} ', ' ' .. state .. ' ', 1, true) then
  return {{redis.call('HGET', KEYS[1], 'backend'), redis.call('HGET', KEYS[1], 'queue'), state}}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'backend', ARGV[1], 'queue', ARGV[2], 'task', ARGV[3], 'state', ARGV[4], 'updated', ARGV[6],
           'correlation_id', ARGV[7], 'payload', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], string.sub(KEYS[1], {len("taskbridge:job:") + 1}))
return nil
"""

# KEYS[1] record, KEYS[2] lease; ARGV: attempt now ttl backend queue task timeout token lease_ms rerun.
# Returns the state before, and takes the lease (value: this run's token) in the same step.
# Not started: a job that has ended (cancelled, or a duplicate delivery of a finished one):
# its state; a job another run holds the live lease of (a redelivered duplicate): 'held'; a
# started job whose run died, when its task did not opt in to a re-run: 'lost'.
_BEGIN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'cancelled' or state == 'succeeded' or state == 'failed' then return state end
if state == 'started' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 'held' end
  if ARGV[10] ~= '1' then return 'lost' end
end
redis.call('HSET', KEYS[1], 'state', 'started', 'attempt', ARGV[1], 'updated', ARGV[2], 'started', ARGV[2],
           'backend', ARGV[4], 'queue', ARGV[5], 'task', ARGV[6], 'timeout', ARGV[7])
redis.call('HDEL', KEYS[1], 'ended')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[9])
return state or 'unknown'
"""

# KEYS[1] lease; ARGV: token lease_ms. Renews the lease only while this run holds it.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS[1] lease; ARGV: token. Drops the lease only if this run holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] record, KEYS[2] lease; ARGV: attempt now lease_must_be_gone. A started job whose run
# died goes back to queued for a re-run (its task opted in); 1 when it did (once: the state moved on).
_REQUEUE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'started' or redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 0 end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued', 'updated', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'reruns', 1)
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS[1] record; ARGV: state updated now. Marks a queued job the reconciler found nowhere as
# re-sent (once: 1 the first time, 0 after), only if it has not moved on since it was looked at.
_RESEND = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'updated') ~= ARGV[2] then return -1 end
if redis.call('HSETNX', KEYS[1], 'resent', ARGV[3]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updated', ARGV[3])
return 1
"""

# Put in front of _BEGIN (same KEYS; ARGV[11] the generation the delivered message carries): each
# move of a job (taskbridge.move) bumps its record's generation and sends a message carrying the
# new one, so a delivery of any earlier message is refused, whichever backend it comes from.
_CURRENT_GENERATION = """
if (redis.call('HGET', KEYS[1], 'gen') or '0') ~= ARGV[11] then return 'moved' end
"""

# KEYS[1] record; ARGV: from to now. Hands a job that has not started from backend ARGV[1] to
# ARGV[2] under a new generation. Returns {'moved', state, generation}, or {why not}: 'missing'
# (no record), 'elsewhere' (another backend holds it) or the state it is in (started or ended).
_MOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
if redis.call('HGET', KEYS[1], 'backend') ~= ARGV[1] then return {'elsewhere'} end
if state ~= 'queued' and state ~= 'scheduled' and state ~= 'retrying' then return {state} end
redis.call('HSET', KEYS[1], 'backend', ARGV[2], 'moved', ARGV[3], 'moved_from', ARGV[1])
return {'moved', state, redis.call('HINCRBY', KEYS[1], 'gen', 1)}
"""

# KEYS[1] record, KEYS[2] lease; ARGV: state ttl now token [field value ...]. Returns the state
# the job is in after: ARGV[1], or the state it had already ended in. A job ends once: a
# cancelled job stays cancelled (noting that its run ended, which a cancel with a grace period
# waits for), a job already failed as lost stays failed. The run's lease (token ARGV[4]; '' for
# none) is dropped in the same step, whatever the state, so a run's end costs one round trip.
_FINISH = """
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'cancelled' then
  redis.call('HSET', KEYS[1], 'ended', ARGV[3])
  return state
end
if state == 'succeeded' or state == 'failed' then return state end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated', ARGV[3], 'ended', ARGV[3], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return ARGV[1]
"""

# KEYS[1] record, KEYS[2] lease; ARGV: attempt now ttl error_type error lease_must_be_gone.
# The run that started attempt ARGV[1] died: fail the job, unless it has already ended, been
# cancelled or moved on (or, when ARGV[6] is '1', its lease is still being renewed). 1 when failed.
_LOSE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'started' or redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 0 end
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'failed', 'updated', ARGV[2], 'ended', ARGV[2], 'error_type', ARGV[4], 'error', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS[1] record; ARGV: now ttl. Returns the state the job was in, or nil when it had already
# finished or was never dispatched (no record: nothing is written for it).
_CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'succeeded' or state == 'failed' or state == 'cancelled' then return nil end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'updated', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return state
"""


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    state: TaskStatus
    backend: str | None
    queue: str | None
    task: str | None
    attempt: int
    result: Any
    error_type: str | None
    error: str | None
    correlation_id: str | None
    started: float | None = None  # when the current attempt started
    timeout: int | None = None  # its time limit, in seconds
    ended: float | None = None  # when the last run ended (set even for a cancelled job)
    updated: float | None = None  # when the state last changed
    payload: str | None = None  # what it takes to send the job again (see :func:`payload`)
    resent: bool = False  # the reconciler has re-sent it once
    reruns: int = 0  # times it was re-run after its worker died
    generation: int = 0  # bumped by each move to another backend (see _MOVE)


@dataclass(frozen=True, slots=True)
class Moved:
    """The outcome of moving one job: ``state`` is the state it was moved in (queued, scheduled,
    retrying), or why it was not (``missing``, ``elsewhere``, started, an ending)."""

    moved: bool
    state: str
    generation: int


def key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def lease_key(job_id: str) -> str:
    return LEASE_PREFIX + job_id


def dispatch_record(message: Any, backend: str, state: TaskStatus) -> list[tuple[Any, ...]]:
    """The Redis commands that write a new job's record (a fresh job id cannot collide).

    The backend sends them with its enqueue, in the same round trip and
    transaction where it can, so the record is there before any worker can
    start the job, and is not there if the enqueue fails.
    """
    name = key(message.job_id)
    return [
        ("HSET", name, "backend", backend, "queue", message.task.queue, "task", message.task.name, "state", state.value,
         "updated", message.enqueued_at, "correlation_id", message.correlation_id, "payload", payload(message)),
        ("EXPIRE", name, ACTIVE_TTL),
        ("ZADD", ACTIVE_INDEX, message.enqueued_at, message.job_id),
    ]


def payload(message: Any) -> bytes:
    """What it takes to send the job again with the same id (JSON): the reconciler re-sends
    a job its backend lost from it (:mod:`taskbridge.redelivery`)."""
    return orjson.dumps({
        "args": list(message.args), "kwargs": message.kwargs, "eta": message.eta.isoformat() if message.eta else None,
        "correlation_id": message.correlation_id, "route": message.route, "enqueued_at": message.enqueued_at,
    })


def lease_seconds() -> float:
    """How long a started job is still believed to be running after the process running it
    last renewed its lease (``TASKBRIDGE["LEASE_SECONDS"]``)."""
    return float(conf.option("LEASE_SECONDS"))


class Lease:
    """Held by the run of a job while it runs: taken by :meth:`Ledger.begin` in the same
    step that marks the job started (so a second delivery of the job cannot take it too),
    then renewed by this process's :mod:`~taskbridge.watchdog` every sixth of its lifetime,
    and dropped by the ledger step that ends the run (:meth:`Ledger.set_state` with
    ``lease=``). When the process dies with its worker (OOM, node loss), no one is left to
    say so; the lease running out is how the job's death gets noticed (the reconciler,
    :meth:`taskbridge.handle.TaskHandle.status`)."""

    def __init__(self, ledger: Ledger, job_id: str, seconds: float) -> None:
        self.ledger, self.key, self.ms = ledger, lease_key(job_id), max(1, int(seconds * 1000))
        self.token = uuid.uuid4().hex
        self._held = False
        self._handed_over = False

    def hold(self, kill_after: float | None = None) -> None:
        """Start renewing (once :meth:`Ledger.begin` took the lease); with ``kill_after``, the
        process is killed that many seconds from now unless the run ends first."""
        watchdog.hold(self, kill_after)
        self._held = True

    def hand_over(self) -> str:
        """Stop renewing (and the hard limit) and give the token to the step ending the run, which drops the lease."""
        self._stop()
        self._handed_over = True
        return self.token

    def _stop(self) -> None:
        if self._held:
            watchdog.release(self)
            self._held = False

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: Any) -> None:
        """A run that ended without a ledger step (not started, an error reaching Redis, a signal) drops its lease here."""
        self._stop()
        if self._handed_over:
            return
        try:
            self.ledger._release(keys=[self.key], args=[self.token])
        except redis.RedisError:
            pass  # it runs out by itself


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def _number(value: str | None) -> float | None:
    return float(value) if value else None


class Ledger:
    """The job records; one instance per process (scripts are registered once)."""

    def __init__(self) -> None:
        conn = connection()
        self.conn = conn
        self._claim = conn.register_script(_CLAIM)
        self._begin = conn.register_script(_CURRENT_GENERATION + _BEGIN)
        self._move = conn.register_script(_MOVE)
        self._finish = conn.register_script(_FINISH)
        self._cancel = conn.register_script(_CANCEL)
        self._lose = conn.register_script(_LOSE)
        self._renew = conn.register_script(_RENEW)
        self._release = conn.register_script(_RELEASE)
        self._requeue = conn.register_script(_REQUEUE)
        self._resend = conn.register_script(_RESEND)

    def write(self, commands: list[tuple[Any, ...]]) -> None:
        with self.conn.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            pipe.execute()

    def claim(
        self, job_id: str, backend: str, queue: str, task: str, state: TaskStatus, correlation_id: str, payload: bytes
    ) -> tuple[str, str, str] | None:
        """Claim a fixed job id; returns (backend, queue, state) of the live job holding it, if any."""
        held = self._claim(
            keys=[key(job_id), ACTIVE_INDEX],
            args=[backend, queue, task, state.value, ACTIVE_TTL, time.time(), correlation_id, payload],
        )
        return tuple(_text(part) for part in held) if held else None

    def release(self, job_id: str) -> None:
        self.conn.delete(key(job_id))

    def begin(
        self, job_id: str, attempt: int, backend: str, queue: str, task: str, timeout: int, lease: Lease,
        rerun: bool = False, generation: int = 0,
    ) -> str:
        """Mark the job started and take ``lease`` in one step; returns the state before, or
        ``held``/``lost`` (see ``_BEGIN``) or :data:`MOVED` (the delivered message, of
        ``generation``, is not the job's current one: it was moved) when this delivery must not run."""
        args = [attempt, time.time(), ACTIVE_TTL, backend, queue, task, timeout, lease.token, lease.ms, "1" if rerun else "0", generation]
        return _text(self._begin(keys=[key(job_id), lease_key(job_id)], args=args))

    def move(self, job_ids: list[str], source: str, target: str) -> list[Moved]:
        """Hand each job that has not started from ``source`` to ``target``, atomically per job
        against its start (:meth:`begin`): a job either starts from a message sent before the
        move or runs from the one sent with the new generation, never both. One round trip."""
        now = time.time()
        with self.conn.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                self._move(keys=[key(job_id)], args=[source, target, now], client=pipe)
            replies = pipe.execute()
        return [
            Moved(True, _text(reply[1]), int(reply[2])) if reply[0] == b"moved" else Moved(False, _text(reply[0]), 0)
            for reply in replies
        ]

    def set_state(self, job_id: str, state: TaskStatus, lease: Lease | None = None, **fields: Any) -> str:
        """Move the job to ``state`` (see ``_FINISH``); with ``lease``, the run's lease is dropped in the same step."""
        ttl = ACTIVE_TTL if state not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED) else fields.pop("ttl", conf.option("RESULT_TTL"))
        fields.pop("ttl", None)
        flat: list[Any] = []
        for field, value in fields.items():
            if value is not None:
                flat += [field, value]
        token = lease.hand_over() if lease is not None else ""
        return _text(self._finish(keys=[key(job_id), lease_key(job_id)], args=[state.value, ttl, time.time(), token, *flat]))

    def succeed(self, job_id: str, result: Any, ttl: int, lease: Lease | None = None) -> str:
        return self.set_state(job_id, TaskStatus.SUCCEEDED, lease, result=json.dumps(result), ttl=ttl)

    def fail(self, job_id: str, error_type: str, error: str, ttl: int, lease: Lease | None = None) -> str:
        return self.set_state(job_id, TaskStatus.FAILED, lease, error_type=error_type, error=error, ttl=ttl)

    def lose(self, job_id: str, attempt: int, error_type: str, error: str, ttl: int, lease_gone: bool = False) -> bool:
        """Fail a started job whose process died; False when it had ended, been cancelled or moved on
        (or, with ``lease_gone``, when its lease turns out to be held after all)."""
        args = [attempt, time.time(), ttl, error_type, error, "1" if lease_gone else "0"]
        return bool(self._lose(keys=[key(job_id), lease_key(job_id)], args=args))

    def lease(self, job_id: str) -> Lease:
        return Lease(self, job_id, lease_seconds())

    def requeue(self, job_id: str, attempt: int, lease_gone: bool = False) -> bool:
        """A started job whose run died goes back to queued, for a re-run (once per death)."""
        args = [attempt, time.time(), "1" if lease_gone else "0"]
        return bool(self._requeue(keys=[key(job_id), lease_key(job_id)], args=args))

    def mark_resent(self, job_id: str, state: str, updated: str) -> int:
        """1: the caller re-sends the job (first time); 0: it was re-sent before; -1: it moved on."""
        return int(self._resend(keys=[key(job_id)], args=[state, updated, time.time()]))

    def lease_held(self, job_id: str) -> bool:
        return bool(self.conn.exists(lease_key(job_id)))

    def cancel(self, job_id: str) -> str | None:
        return _text(self._cancel(keys=[key(job_id)], args=[time.time(), conf.option("RESULT_TTL")]))

    def is_cancelled(self, job_id: str) -> bool:
        return self.conn.hget(key(job_id), "state") == b"cancelled"

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.conn.hgetall(key(job_id))
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        result = fields.get("result")
        return JobRecord(
            job_id=job_id,
            state=TaskStatus(fields.get("state", "unknown")),
            backend=fields.get("backend"),
            queue=fields.get("queue"),
            task=fields.get("task"),
            attempt=int(fields.get("attempt", 0)),
            result=json.loads(result) if result is not None else None,
            error_type=fields.get("error_type"),
            error=fields.get("error"),
            correlation_id=fields.get("correlation_id"),
            started=_number(fields.get("started")),
            timeout=int(fields["timeout"]) if fields.get("timeout") else None,
            ended=_number(fields.get("ended")),
            updated=_number(fields.get("updated")),
            payload=fields.get("payload"),
            resent="resent" in fields,
            reruns=int(fields.get("reruns", 0)),
            generation=int(fields.get("gen", 0)),
        )


_ledger: Ledger | None = None


def ledger() -> Ledger:
    """This process's ledger, on this process's Redis connection."""
    global _ledger
    if _ledger is None or _ledger.conn is not connection():
        _ledger = Ledger()
    return _ledger
