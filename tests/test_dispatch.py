"""Dispatch in-process: RQ against fakeredis (fast, no server), both backends against the
session's real redis-server without workers (what lands in the queue, what doesn't)."""

from __future__ import annotations

import json
import zlib

import fakeredis
import pytest
import redis as redis_lib
from django.db import transaction
from django.test import RequestFactory

from taskbridge import ArgumentError, EnqueueError, TaskHandle, events
from taskbridge import redis as tb_redis
from taskbridge.backends import get_backend
from taskbridge.ledger import key as ledger_key
from taskbridge.middleware import HEADER, CorrelationIdMiddleware
from tests.conftest import set_route
from tests.taskapp import tasks


@pytest.fixture
def fake_redis(monkeypatch):
    server = fakeredis.FakeRedis()
    get_backend("rq")  # imported before the patches: it binds taskbridge.redis.connection at import
    monkeypatch.setattr(tb_redis, "connection", lambda: server)
    monkeypatch.setattr("taskbridge.ledger.connection", lambda: server)
    monkeypatch.setattr("taskbridge.backends.rq.backend.connection", lambda: server)
    get_backend("rq")._queues.clear()
    yield server
    get_backend("rq")._queues.clear()


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "events.log"
    monkeypatch.setenv("TASKBRIDGE_EVENT_LOG", str(path))
    events.reset()

    def task_events():
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(json.loads, lines) if e["event"].startswith("task.")]

    yield task_events
    events.reset()


@pytest.mark.django_db
def test_rq_dispatch_writes_a_json_job_under_the_task_name(fake_redis, log):
    set_route("default", everyone=True)
    handle = tasks.add.enqueue(2, y=3)
    assert handle.backend == "rq" and handle.queue == "default"
    queue = get_backend("rq").queue("default")
    [job] = queue.get_jobs()
    assert job.id == handle.job_id
    assert job.func_name == "tests.taskapp.tasks.add"
    assert (job.args, job.kwargs) == ([2], {"y": 3})
    payload = json.loads(zlib.decompress(fake_redis.hget(f"rq:job:{job.id}", "data")))
    assert payload[0] == "tests.taskapp.tasks.add"
    assert job.meta["taskbridge"]["route"] == "rq:flag-everyone"
    assert fake_redis.hget(ledger_key(job.id), "state") == b"queued"
    [enqueued] = log()
    assert enqueued["event"] == "task.enqueued" and enqueued["job_id"] == job.id and enqueued["route"] == "rq:flag-everyone"


@pytest.mark.django_db
def test_countdown_schedules_instead_of_queueing(fake_redis, log):
    set_route("default", everyone=True)
    handle = tasks.add.using(countdown=60).enqueue(1, 1)
    queue = get_backend("rq").queue("default")
    assert queue.get_jobs() == []
    assert handle.job_id in queue.scheduled_job_registry.get_job_ids()
    assert fake_redis.hget(ledger_key(handle.job_id), "state") == b"scheduled"
    assert "eta" in log()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("everyone", [False, True])
def test_bad_arguments_fail_at_dispatch_and_enqueue_nothing(everyone, redis_conn, log):
    set_route("default", everyone=everyone)
    records_before = set(redis_conn.scan_iter("taskbridge:job:*"))
    with pytest.raises(ArgumentError, match=r"tests.taskapp.tasks.add: argument args\[0\]"):
        tasks.add.enqueue(b"bytes", 1)
    with pytest.raises(ArgumentError, match="does not match the signature"):
        tasks.add.enqueue(1)
    assert set(redis_conn.scan_iter("taskbridge:job:*")) == records_before
    assert log() == []


@pytest.mark.django_db
def test_unreachable_backend_leaves_nothing_half_enqueued(monkeypatch, redis_conn, log):
    set_route("default", everyone=True)
    records_before = set(redis_conn.scan_iter("taskbridge:job:*"))
    broken = redis_lib.Redis(port=1)
    monkeypatch.setattr(get_backend("rq"), "queue", lambda name: __import__("django_rq").get_queue(name, connection=broken))
    with pytest.raises(EnqueueError, match="could not enqueue job .* on rq"):
        tasks.add.enqueue(1, 2)
    assert set(redis_conn.scan_iter("taskbridge:job:*")) == records_before
    assert log() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("everyone", [False, True])
def test_on_commit_sends_only_when_the_transaction_commits(everyone, redis_conn, log):
    set_route("default", everyone=everyone)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            rolled_back = tasks.add.enqueue_on_commit(1, 2)
            raise RuntimeError("roll back")
    assert not redis_conn.exists(ledger_key(rolled_back.job_id))
    with transaction.atomic():
        committed = tasks.add.enqueue_on_commit(1, 2)
        assert not redis_conn.exists(ledger_key(committed.job_id))
    assert redis_conn.exists(ledger_key(committed.job_id))
    assert [(e["event"], e["job_id"], e["backend"]) for e in log()] == [
        ("task.enqueued", committed.job_id, "rq" if everyone else "celery")
    ]


def test_handle_round_trips_through_a_string():
    handle = TaskHandle("rq", "notebook_processing", "ragflow-status-42")
    assert TaskHandle.from_string(str(handle)) == handle
    assert len(str(TaskHandle("celery", "notebook_processing", "f" * 32))) < 255
    for bad in ("", "rq:default", "kafka:default:1", "rq::1"):
        with pytest.raises(ValueError, match="not a task handle"):
            TaskHandle.from_string(bad)


@pytest.mark.django_db
def test_using_rejects_bad_options():
    with pytest.raises(ValueError, match="countdown/eta"):
        import datetime as dt

        tasks.add.using(countdown=1, eta=dt.datetime.now(dt.timezone.utc))
    with pytest.raises(ValueError, match="timezone-aware"):
        import datetime as dt

        tasks.add.using(eta=dt.datetime.now())
    with pytest.raises(ValueError, match="job_id"):
        tasks.add.using(job_id="a:b")


def test_calling_a_task_runs_it_inline():
    assert tasks.add(2, 3) == 5


@pytest.mark.django_db
def test_request_correlation_id_is_carried_into_the_dispatch(fake_redis, log):
    set_route("default", everyone=True)

    def view(request):
        from django.http import HttpResponse

        tasks.add.enqueue(1, 2)
        return HttpResponse("ok")

    response = CorrelationIdMiddleware(view)(RequestFactory().get("/", HTTP_X_CORRELATION_ID="req-123"))
    assert response[HEADER] == "req-123"
    assert log()[0]["correlation_id"] == "req-123"
    response = CorrelationIdMiddleware(view)(RequestFactory().get("/"))
    assert len(response[HEADER]) == 32 and log()[1]["correlation_id"] == response[HEADER]


@pytest.mark.django_db(transaction=True)
def test_on_commit_countdown_runs_from_the_commit(fake_redis, log):
    import time

    set_route("default", everyone=True)
    called = time.time()
    with transaction.atomic():
        handle = tasks.add.using(countdown=60).enqueue_on_commit(1, 2)
        time.sleep(1.5)
    queue = get_backend("rq").queue("default")
    due = queue.scheduled_job_registry.get_scheduled_time(handle.job_id).timestamp()
    assert due >= called + 61.4, "the countdown started at the call, not at the commit"
