"""What the reconciler asks of Celery on Redis (see ``Backend.held_jobs/hand_back``).

kombu's Redis transport keeps a delivered message in the ``unacked`` hash (with
its delivery time in ``unacked_index``) until the worker acknowledges it, and
restores it only once the visibility timeout has passed (the longest queue
timeout + 1 h here). Each taskbridge Celery worker says which jobs it holds
(reserved, running, waiting for their eta) every few seconds
(:mod:`taskbridge.presence`); a message in ``unacked`` that no live worker
holds, for longer than the grace period, was held by a dead one and goes back to
the front of its queue at once.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from celery import current_app

from ... import conf
from ...ledger import ledger
from ...states import FINISHED, TaskStatus


def _options() -> dict[str, Any]:
    return current_app.conf.broker_transport_options or {}


def broker() -> redis.Redis:
    """A client on the broker's Redis, with taskbridge's timeouts."""
    timeout = float(conf.option("REDIS_TIMEOUT"))
    return redis.Redis.from_url(current_app.conf.broker_write_url or current_app.conf.broker_url,
                                socket_timeout=timeout, socket_connect_timeout=timeout)


def _queue_keys() -> list[str]:
    sep = _options().get("sep", "\x06\x16")
    steps = _options().get("priority_steps", [0, 3, 6, 9])
    return [name if not step else f"{name}{sep}{step}" for name in conf.queues() for step in steps]


def _job_id(raw: bytes, unacked: bool) -> str | None:
    try:
        message = json.loads(raw)
        if unacked:
            message = message[0]
        return message["headers"]["id"]
    except (ValueError, KeyError, TypeError, IndexError):
        return None


class CeleryCustody:
    def __init__(self) -> None:
        self._client: tuple[str, redis.Redis] | None = None

    def _broker(self) -> redis.Redis:
        url = current_app.conf.broker_write_url or current_app.conf.broker_url
        if self._client is None or self._client[0] != url:
            self._client = (url, broker())
        return self._client[1]

    def _unacked_keys(self) -> tuple[str, str]:
        return _options().get("unacked_key", "unacked"), _options().get("unacked_index_key", "unacked_index")

    def held_jobs(self) -> set[str]:
        unacked, _ = self._unacked_keys()
        keys = _queue_keys()
        with self._broker().pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.lrange(key, 0, -1)
            pipe.hvals(unacked)
            replies = pipe.execute()
        found = {_job_id(raw, False) for reply in replies[:-1] for raw in reply}
        found |= {_job_id(raw, True) for raw in replies[-1]}
        found.discard(None)
        return found  # type: ignore[return-value]

    def hand_back(self, alive: dict[str, Any], grace: float) -> list[str]:
        held = set().union(*(p.held for p in alive.values())) if alive else set()
        unacked, index = self._unacked_keys()
        client = self._broker()
        old = client.zrange(index, 0, time.time() - grace, byscore=True)
        handed: list[str] = []
        for tag in old:
            raw = client.hget(unacked, tag)
            job_id = _job_id(raw, True) if raw else None
            if raw is None or job_id in held:
                continue
            record = ledger().get(job_id) if job_id else None
            if record is not None and record.state == TaskStatus.STARTED:
                continue  # its run died: the lease rule fails or re-runs it
            requeue = record is not None and record.state not in FINISHED
            if self._restore(client, unacked, index, tag, requeue) and requeue:
                handed.append(job_id)
        return handed

    @staticmethod
    def _restore(client: redis.Redis, unacked: str, index: str, tag: bytes, requeue: bool) -> bool:
        """kombu's own restore (``QoS.restore_by_tag``), to the front of the queue; or, for a job
        that has ended, just the acknowledgement its dead worker never sent."""
        done = False

        def restore(pipe: Any) -> None:
            nonlocal done
            raw = pipe.hget(unacked, tag)
            pipe.multi()
            if raw is None:
                return
            pipe.hdel(unacked, tag)
            pipe.zrem(index, tag)
            if requeue:
                payload, _exchange, routing_key = json.loads(raw)
                payload.setdefault("headers", {})["redelivered"] = True
                payload.setdefault("properties", {}).setdefault("delivery_info", {})["redelivered"] = True
                pipe.rpush(routing_key, json.dumps(payload))
            done = True

        client.transaction(restore, unacked)
        return done
