"""What the reconciler asks of RQ (see ``Backend.held_jobs/hand_back/reap/maintain``).

RQ keeps a job in its queue list, then (taskbridge's worker dequeues with
LMOVE, :mod:`.worker`) in the queue's intermediate list until the work horse
puts it in the started registry; scheduled and deferred jobs sit in registries
of their own. A worker killed between those steps leaves the job in the
intermediate list or the started registry, where RQ itself cleans up only in
its 10-minute maintenance pass, and then fails the job instead of running it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.worker import Worker
from rq import worker_registration

from ... import conf
from ...ledger import ledger
from ...redis import connection
from ...states import FINISHED, TaskStatus

if TYPE_CHECKING:
    from rq import Queue

# KEYS[1] the list or set the job is stuck in, KEYS[2] its queue; ARGV: job id, 'list' or 'zset'.
# Moves the job to the front of its queue, if it is still where it was found.
_HAND_BACK = """
local gone
if ARGV[2] == 'list' then gone = redis.call('LREM', KEYS[1], 1, ARGV[1]) else gone = redis.call('ZREM', KEYS[1], ARGV[3]) end
if gone == 0 then return 0 end
if ARGV[4] == '1' then redis.call('LPUSH', KEYS[2], ARGV[1]) end
return 1
"""

# KEYS[1] lock; ARGV[1] holder. Deletes the lock if that holder still has it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RQCustody:
    def __init__(self, queue_of: Any) -> None:
        self.queue_of = queue_of
        self._orphans: dict[tuple[str, str], float] = {}

    def _queues(self) -> list[Queue]:
        return [self.queue_of(name) for name in conf.queues()]

    def held_jobs(self) -> set[str]:
        queues = self._queues()
        with connection().pipeline(transaction=True) as pipe:
            for queue in queues:
                pipe.lrange(queue.key, 0, -1)
                pipe.lrange(queue.intermediate_queue_key, 0, -1)
                pipe.zrange(StartedJobRegistry(queue=queue).key, 0, -1)
                pipe.zrange(ScheduledJobRegistry(queue=queue).key, 0, -1)
                pipe.zrange(DeferredJobRegistry(queue=queue).key, 0, -1)
            replies = pipe.execute()
        return {member.decode().split(":", 1)[0] for reply in replies for member in reply}

    def _stuck(self) -> list[tuple[Queue, str, str, str]]:
        """(queue, where, kind, member) of every job in an intermediate list or started registry."""
        queues = self._queues()
        with connection().pipeline(transaction=True) as pipe:
            for queue in queues:
                pipe.lrange(queue.intermediate_queue_key, 0, -1)
                pipe.zrange(StartedJobRegistry(queue=queue).key, 0, -1)
            replies = pipe.execute()
        found = []
        for index, queue in enumerate(queues):
            found += [(queue, queue.intermediate_queue_key, "list", m.decode()) for m in replies[2 * index]]
            found += [(queue, StartedJobRegistry(queue=queue).key, "zset", m.decode()) for m in replies[2 * index + 1]]
        return found

    def hand_back(self, alive: dict[str, Any], grace: float) -> list[str]:
        held = set().union(*(p.held for p in alive.values())) if alive else set()
        now = time.monotonic()
        seen: dict[tuple[str, str], float] = {}
        handed: list[str] = []
        script = connection().register_script(_HAND_BACK)
        for queue, where, kind, member in self._stuck():
            job_id = member.split(":", 1)[0]
            if job_id in held:
                continue
            first = seen[(where, member)] = self._orphans.get((where, member), now)
            if now - first < grace:
                continue
            record = ledger().get(job_id)
            if record is not None and record.state == TaskStatus.STARTED:
                continue  # its run died: the lease rule fails or re-runs it
            requeue = record is not None and record.state not in FINISHED
            if script(keys=[where, queue.key], args=[job_id, kind, member, "1" if requeue else "0"]) and requeue:
                handed.append(job_id)
            seen.pop((where, member), None)
        self._orphans = seen
        return handed

    def reap(self, name: str, presence: Any) -> None:
        conn = connection()
        found = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=conn, serializer=JSONSerializer)
        if found is not None:
            worker_registration.unregister(found)
            conn.delete(found.key)
        if presence.scheduler:
            release = conn.register_script(_RELEASE)
            for queue in presence.queues:
                release(keys=[RQScheduler.get_locking_key(queue)], args=[presence.scheduler])

    def maintain(self) -> None:
        """Move due scheduled jobs of queues no scheduler holds the lock of (its worker died and
        the live workers' schedulers only look for free locks every 10 minutes)."""
        scheduler = RQScheduler(list(conf.queues()), connection=connection(), serializer=JSONSerializer, logging_level="WARNING")
        scheduler.acquire_locks()
        if scheduler.acquired_locks:
            try:
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
