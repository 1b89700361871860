"""How a Celery dispatch reaches Redis, against the session's real redis-server without
workers: the job record and the message go together, and a refused publish leaves neither."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis as redis_lib
from celery import current_app

from taskbridge import EnqueueError, conf, events
from taskbridge.backends.celery.backend import CeleryBackend, _same_redis
from taskbridge.ledger import key as ledger_key
from taskbridge.message import Message
from taskbridge.states import TaskStatus
from tests.conftest import set_route
from tests.taskapp import tasks


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "events.log"
    monkeypatch.setenv("TASKBRIDGE_EVENT_LOG", str(path))
    events.reset()
    yield lambda: path.read_text().splitlines() if path.exists() else []
    events.reset()


def _messages(conn: redis_lib.Redis, queue: str = "default") -> list[dict]:
    return [json.loads(raw) for raw in conn.lrange(queue, 0, -1)]


@pytest.fixture
def clean_default_queue(redis_conn):
    redis_conn.delete("default")
    yield
    redis_conn.delete("default")


@pytest.mark.django_db
def test_record_and_message_are_written_together(redis_conn, clean_default_queue):
    set_route("default", everyone=False)
    handle = tasks.add.enqueue(2, 3)
    assert handle.backend == "celery"
    record = redis_conn.hgetall(ledger_key(handle.job_id))
    assert record[b"state"] == b"queued" and record[b"task"] == b"tests.taskapp.tasks.add" and record[b"backend"] == b"celery"
    assert 0 < redis_conn.ttl(ledger_key(handle.job_id)) <= 7 * 86400
    [message] = _messages(redis_conn)
    headers = message["headers"]
    assert headers["id"] == handle.job_id and headers["task"] == "tests.taskapp.tasks.add"
    assert headers["taskbridge"]["route"] == "celery:flag-everyone"
    # Time limits are the Celery task's own, not repeated in every message.
    assert headers["timelimit"] == [None, None]
    celery_task = current_app.tasks["tests.taskapp.tasks.add"]
    assert (celery_task.soft_time_limit, celery_task.time_limit) == (3600, 3600 + conf.option("HARD_TIMEOUT_GRACE"))


@pytest.mark.django_db
def test_a_publish_redis_refuses_leaves_no_record_and_no_event(redis_conn, clean_default_queue, log):
    """The record's commands run before Redis refuses the message's LPUSH; the record
    must not outlive the failed publish."""
    set_route("default", everyone=False)
    tasks.add.enqueue(1, 1)  # the queue is declared once per connection; this publish does it
    redis_conn.delete("default")
    redis_conn.set("default", "not a list")
    records_before = set(redis_conn.scan_iter("taskbridge:job:*"))
    lines_before = len(log())
    with pytest.raises(EnqueueError, match="could not enqueue job .* on celery: .*WRONGTYPE"):
        tasks.add.enqueue(1, 2)
    assert set(redis_conn.scan_iter("taskbridge:job:*")) == records_before
    assert len(log()) == lines_before


@pytest.mark.django_db
def test_records_in_another_database_than_the_broker_are_written_first(settings, redis_url, redis_conn, clean_default_queue):
    """The record cannot ride with the message when the job records are kept in another
    Redis database than Celery's broker: it is written on its own, before the publish."""
    records_url = redis_url.rsplit("/", 1)[0] + "/3"
    records = redis_lib.Redis.from_url(records_url)
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "REDIS_URL": records_url}
    backend = CeleryBackend("celery", {})
    assert backend._recording_producers() is None
    set_route("default", everyone=False)
    message = Message(
        task=tasks.add, args=(4, 5), kwargs={}, job_id=uuid.uuid4().hex, fixed_id=False, correlation_id="c",
        route="celery:flag-everyone", enqueued_at=time.time(), eta=None,
    )
    try:
        backend.send(message, TaskStatus.QUEUED)
        assert records.hget(ledger_key(message.job_id), "state") == b"queued"
        assert not redis_conn.exists(ledger_key(message.job_id))
        assert [m["headers"]["id"] for m in _messages(redis_conn)] == [message.job_id]
    finally:
        records.delete(ledger_key(message.job_id))


def test_same_redis_compares_host_port_and_database():
    assert _same_redis("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379")
    assert _same_redis("redis://127.0.0.1/2", "redis://127.0.0.1:6379/2")
    assert not _same_redis("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1")
    assert not _same_redis("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/0")
