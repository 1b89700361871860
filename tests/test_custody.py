"""Custody: a redelivered duplicate never runs twice, a broker outage is an EnqueueError,
the outbox survives a broker outage at commit, a stalled database does not hold routing."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connections, transaction
from django.test import override_settings

from taskbridge import conf, routing
from taskbridge.errors import EnqueueError
from taskbridge.ledger import ledger
from taskbridge.models import OutboxDispatch
from taskbridge.states import TaskStatus
from tests.conftest import set_route
from tests.taskapp import tasks
from tests.support.redis_server import free_port


def _with(**options):
    return override_settings(TASKBRIDGE={**settings.TASKBRIDGE, **options})


def test_second_delivery_of_a_running_job_is_refused(redis_conn):
    jobs = ledger()
    job_id = uuid.uuid4().hex
    first, second = jobs.lease(job_id), jobs.lease(job_id)
    assert jobs.begin(job_id, 1, "rq", "default", "t", 10, first) in ("unknown", "queued")
    assert jobs.begin(job_id, 1, "rq", "default", "t", 10, second) == "held"
    first.__exit__(None, None, None)  # its run died and the lease is gone: not run again unless the task opted in
    assert jobs.begin(job_id, 1, "rq", "default", "t", 10, second) == "lost"
    assert jobs.begin(job_id, 1, "rq", "default", "t", 10, second, rerun=True) == "started"


def test_broker_down_is_an_enqueue_error_within_the_timeout(db):
    set_route("default", everyone=True)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with _with(REDIS_URL=dead, REDIS_TIMEOUT=1.0):
        started = time.monotonic()
        with pytest.raises(EnqueueError) as raised:
            tasks.add.enqueue(1, 2)
        assert time.monotonic() - started < 3
    assert isinstance(raised.value.__cause__, redis.ConnectionError)


def test_outbox_keeps_a_dispatch_the_broker_refused_at_commit(transactional_db, redis_conn):
    from taskbridge import outbox

    set_route("default", everyone=True)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with _with(REDIS_URL=dead, REDIS_TIMEOUT=0.5):
        with transaction.atomic():
            handle = tasks.add.enqueue_on_commit(2, 2)
        # committed, not sent: the row waits, nothing raised into the request
        assert OutboxDispatch.objects.filter(job_id=handle.job_id).exists()
    assert ledger().get(handle.job_id) is None
    with transaction.atomic():
        rolled = tasks.add.enqueue_on_commit(3, 3)
        transaction.set_rollback(True)
    assert not OutboxDispatch.objects.filter(job_id=rolled.job_id).exists()
    outbox.RELAY_AFTER_SECONDS, saved = 0.0, outbox.RELAY_AFTER_SECONDS
    try:
        assert outbox.relay_pending() == 1
    finally:
        outbox.RELAY_AFTER_SECONDS = saved
    assert not OutboxDispatch.objects.filter(job_id=handle.job_id).exists()
    assert ledger().get(handle.job_id).state == TaskStatus.QUEUED
    assert outbox.relay_pending() == 0


def test_a_stalled_database_falls_back_to_the_last_flags(transactional_db, event_log):
    set_route("default", everyone=True)
    routing.flags.invalidate()
    with _with(FLAG_READ_TIMEOUT=0.5, FLAG_CACHE_SECONDS=0):
        assert routing.route("x.y", "default", "k").backend == conf.candidate()
        locker = connections.create_connection("default")  # another session holds the flags' table
        locker.set_autocommit(False)
        if locker.vendor == "sqlite":
            locker.cursor().execute("BEGIN EXCLUSIVE")
        else:
            locker.cursor().execute("LOCK TABLE waffle_flag IN ACCESS EXCLUSIVE MODE")
        try:
            routing.flags.invalidate()  # a change announced: the flags must be read again now
            started = time.monotonic()
            decided = routing.route("x.y", "default", "k")
            waited = time.monotonic() - started
        finally:
            locker.rollback()
            locker.close()
    assert decided.backend == conf.candidate()
    assert waited < 2
    assert any(e["event"] == "route.stale" for e in event_log.all())


def test_deploy_check_warns_about_a_redis_that_would_lose_jobs(redis_conn):
    from taskbridge.checks import check_redis_durability

    assert not {message.id for message in check_redis_durability()}  # the tests' redis-server is durable
    redis_conn.config_set("appendonly", "no")
    redis_conn.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert {"taskbridge.W010", "taskbridge.W011"} <= {message.id for message in check_redis_durability()}
    finally:
        redis_conn.config_set("appendonly", "yes")
        redis_conn.config_set("maxmemory-policy", "noeviction")
