"""Celery configuration derived from TASKBRIDGE['QUEUES']: queues, routes, time limits, JSON only."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue


from ... import conf, registry
from .periodic import CELERY_TICK_TASK, beat_schedule, tick_queue


def _route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str] | None:
    if name == CELERY_TICK_TASK:
        # A periodic tick goes to the queue of the task its entry runs.
        queue = tick_queue(args)
        return {"queue": queue} if queue else None
    declared = registry.get(name)
    return {"queue": declared.queue} if declared is not None else None


def settings_for_celery() -> dict[str, Any]:
    queues = conf.queues()
    longest = max(spec.timeout for spec in queues.values())
    timeout = float(conf.option("REDIS_TIMEOUT"))
    return {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_queues": [Queue(name, routing_key=name) for name in queues],
        "task_default_queue": "default",
        "task_routes": (_route,),
        # Each declared task carries its own limits (Task.effective_timeout);
        # these are the fallback for tasks declared without taskbridge.
        "task_soft_time_limit": queues["default"].timeout if "default" in queues else longest,
        "task_time_limit": (queues["default"].timeout if "default" in queues else longest) + conf.option("HARD_TIMEOUT_GRACE"),
        # Each choice below is explained, with its measured cost, in docs/performance.md
        # ("Celery settings").
        # Acknowledged once the job has run: a worker killed before that leaves the message in
        # kombu's unacked hash, where the reconciler finds it (taskbridge.backends.celery.custody).
        # A pool process that dies mid-job still has its message acknowledged (reject_on_worker_lost
        # stays off); the ledger fails or re-runs the job (docs/parity.md).
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_memory_per_child": 512 * 1024,  # KiB: a pool process is replaced once it grew past 512 MiB
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        # Redis redelivers unacknowledged messages after this; it must exceed the
        # longest countdown / eta and the longest job.
        "broker_transport_options": {
            "visibility_timeout": longest + 3600,
            "socket_timeout": timeout, "socket_connect_timeout": timeout,
        },
        # A dispatch never waits longer than REDIS_TIMEOUT for the broker: no publish retries
        # (they multiply the wait); a failed publish is an EnqueueError.
        "task_publish_retry": False,
        "broker_connection_timeout": timeout,
        # send_task subscribes to the job's result channel; against a dead Redis, Celery's
        # default policy retries that 20 times a second apart (a 19 s dispatch, then a
        # RuntimeError). Bounded like the broker (tests/test_outage.py).
        "redis_socket_connect_timeout": timeout,
        "redis_socket_timeout": timeout,
        "result_backend_transport_options": {
            "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0, "timeout": timeout},
        },
        "result_expires": conf.option("RESULT_TTL"),
        # TASKBRIDGE["SCHEDULE"], fired as periodic ticks (taskbridge.periodic, docs/periodic.md).
        "beat_schedule": beat_schedule(),
        "timezone": "UTC",
        "enable_utc": True,
    }


def configure(app: Celery) -> None:
    """Give ``app`` taskbridge's defaults (CELERY_* settings still override them) and
    register every declared task and the periodic tick with it."""
    from . import worker  # noqa: F401  (registers declared tasks, records lost pool processes)

    app.add_defaults(settings_for_celery)
