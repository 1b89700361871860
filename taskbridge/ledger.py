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
from dataclasses import dataclass
from typing import Any

import redis

from . import conf
from .redis import connection
from .states import TaskStatus

KEY_PREFIX = "taskbridge:job:"
LEASE_PREFIX = "taskbridge:lease:"
ACTIVE_TTL = 7 * 86400

_ACTIVE_STATES = "queued scheduled started retrying"

# KEYS[1] record; ARGV: backend queue task state ttl now correlation_id
# Returns nil when claimed, or {backend, queue, state} of the job that holds the id.
_CLAIM = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if state and string.find(' {_ACTIVE_STATES} ', ' ' .. state .. ' ', 1, true) then
  return {{redis.call('HGET', KEYS[1], 'backend'), redis.call('HGET', KEYS[1], 'queue'), state}}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'backend', ARGV[1], 'queue', ARGV[2], 'task', ARGV[3], 'state', ARGV[4], 'updated', ARGV[6],
           'correlation_id', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return nil
"""

# KEYS[1] record, KEYS[2] lease; ARGV: attempt now ttl backend queue task timeout lease_ms. Returns the
# state before; a job that has ended (cancelled, or a duplicate delivery of a finished one) is not
# started. The lease is taken in the same step, so a started job is never seen without one.
_BEGIN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'cancelled' or state == 'succeeded' or state == 'failed' then return state end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[8])
redis.call('HSET', KEYS[1], 'state', 'started', 'attempt', ARGV[1], 'updated', ARGV[2], 'started', ARGV[2],
           'backend', ARGV[4], 'queue', ARGV[5], 'task', ARGV[6], 'timeout', ARGV[7])
redis.call('HDEL', KEYS[1], 'ended')
redis.call('EXPIRE', KEYS[1], ARGV[3])
return state or 'unknown'
"""

# KEYS[1] record, KEYS[2] lease; ARGV: state ttl now [field value ...]. Returns the state the job
# is in after: ARGV[1], or the state it had already ended in. A job ends once: a cancelled job
# stays cancelled (noting that its run ended, which a cancel with a grace period waits for), a
# job already failed as lost stays failed. The run's lease is given back in the same step.
_FINISH = """
redis.call('DEL', KEYS[2])
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'cancelled' then
  redis.call('HSET', KEYS[1], 'ended', ARGV[3])
  return state
end
if state == 'succeeded' or state == 'failed' then return state end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated', ARGV[3], 'ended', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
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
         "updated", message.enqueued_at, "correlation_id", message.correlation_id),
        ("EXPIRE", name, ACTIVE_TTL),
    ]


def lease_seconds() -> float:
    """How long a started job is still believed to be running after the process running it
    last renewed its lease (``TASKBRIDGE["LEASE_SECONDS"]``)."""
    return float(conf.option("LEASE_SECONDS"))


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
        self._begin = conn.register_script(_BEGIN)
        self._finish = conn.register_script(_FINISH)
        self._cancel = conn.register_script(_CANCEL)
        self._lose = conn.register_script(_LOSE)

    def write(self, commands: list[tuple[Any, ...]]) -> None:
        with self.conn.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            pipe.execute()

    def claim(
        self, job_id: str, backend: str, queue: str, task: str, state: TaskStatus, correlation_id: str
    ) -> tuple[str, str, str] | None:
        """Claim a fixed job id; returns (backend, queue, state) of the live job holding it, if any."""
        held = self._claim(
            keys=[key(job_id)], args=[backend, queue, task, state.value, ACTIVE_TTL, time.time(), correlation_id]
        )
        return tuple(_text(part) for part in held) if held else None

    def release(self, job_id: str) -> None:
        self.conn.delete(key(job_id))

    def begin(self, job_id: str, attempt: int, backend: str, queue: str, task: str, timeout: int) -> str:
        """Mark the job started and take its lease, one round trip; the running process's
        :mod:`taskbridge.watchdog` renews the lease, the job's ending gives it back."""
        lease_ms = max(1, int(lease_seconds() * 1000))
        return _text(self._begin(
            keys=[key(job_id), lease_key(job_id)],
            args=[attempt, time.time(), ACTIVE_TTL, backend, queue, task, timeout, lease_ms],
        ))

    def set_state(self, job_id: str, state: TaskStatus, **fields: Any) -> str:
        ttl = ACTIVE_TTL if state not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED) else fields.pop("ttl", conf.option("RESULT_TTL"))
        fields.pop("ttl", None)
        flat: list[Any] = []
        for field, value in fields.items():
            if value is not None:
                flat += [field, value]
        return _text(self._finish(keys=[key(job_id), lease_key(job_id)], args=[state.value, ttl, time.time(), *flat]))

    def succeed(self, job_id: str, result: Any, ttl: int) -> str:
        return self.set_state(job_id, TaskStatus.SUCCEEDED, result=json.dumps(result), ttl=ttl)

    def fail(self, job_id: str, error_type: str, error: str, ttl: int) -> str:
        return self.set_state(job_id, TaskStatus.FAILED, error_type=error_type, error=error, ttl=ttl)

    def lose(self, job_id: str, attempt: int, error_type: str, error: str, ttl: int, lease_gone: bool = False) -> bool:
        """Fail a started job whose process died; False when it had ended, been cancelled or moved on
        (or, with ``lease_gone``, when its lease turns out to be held after all)."""
        args = [attempt, time.time(), ttl, error_type, error, "1" if lease_gone else "0"]
        return bool(self._lose(keys=[key(job_id), lease_key(job_id)], args=args))

    def drop_lease(self, job_id: str) -> None:
        """Give back the lease of a run that ended without a state change (an exception that
        is not the task's own, such as the worker's shutdown)."""
        self.conn.delete(lease_key(job_id))

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
        )


_ledger: Ledger | None = None


def ledger() -> Ledger:
    """This process's ledger, on this process's Redis connection."""
    global _ledger
    if _ledger is None or _ledger.conn is not connection():
        _ledger = Ledger()
    return _ledger
