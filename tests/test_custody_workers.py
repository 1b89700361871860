"""The reconciler on real workers: a job taken by a worker that is then SIGKILLed runs (once)
within 60 s, a running job of a dead worker fails visibly with nobody calling status(), and
the dead worker leaves the live lists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from taskbridge.backends import get_backend
from taskbridge.backends.rq.worker import TaskbridgeQueue, TaskbridgeJob
from taskbridge.ledger import ledger
from taskbridge.states import TaskStatus
from tests.conftest import set_route
from tests.support.workers import (
    ROOT, WorkerProcess, celery_worker_command, rq_worker_command, wait_for_celery, wait_for_rq,
)
from tests.taskapp import tasks

pytestmark = pytest.mark.integration


@pytest.fixture
def reconciler(worker_env, tmp_path):
    log = open(tmp_path / "reconciler.log", "ab")
    process = subprocess.Popen([sys.executable, "manage.py", "taskbridge", "reconcile"], cwd=ROOT, env=worker_env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(10)
    log.close()


def _kill(worker: WorkerProcess) -> None:
    """SIGKILL the whole worker: its process group and every descendant (RQ's work horse
    runs in a process group of its own)."""
    import psutil

    family = psutil.Process(worker.pid).children(recursive=True)
    os.killpg(worker.pid, signal.SIGKILL)
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    worker.process.wait()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def _runs(token: str) -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).get(f"tb-test:count:{token}") or 0)


def test_rq_job_popped_by_a_worker_that_died_runs_once(transactional_db, worker_env, tmp_path, reconciler, event_log):
    set_route("isolated", everyone=True)
    token = uuid.uuid4().hex
    handle = tasks.isolated_mark.enqueue(token)
    assert handle.backend == "rq"
    conn = redis.Redis.from_url(settings.REDIS_URL)
    queues = [get_backend("rq").queue(name) for name in ("isolated", "podcast")]
    # What a worker serving several queues does before its work horse starts the job; this
    # "worker" then dies (is never heard of again): the job is in no queue.
    taken = TaskbridgeQueue.dequeue_any(queues, None, connection=conn, job_class=TaskbridgeJob)
    assert taken is not None and taken[0].id == handle.job_id
    assert conn.lpos(queues[0].key, handle.job_id) is None
    worker = WorkerProcess("rq", rq_worker_command(["isolated", "podcast"], name=f"rq-{token[:6]}"), worker_env,
                           tmp_path / "rq.log", name=f"rq-{token[:6]}").start()
    try:
        wait_for_rq(worker, settings.REDIS_URL)
        assert handle.result(timeout=60) == token
    finally:
        worker.stop()
    assert _runs(token) == 1
    assert "task.requeued" in [e["event"] for e in event_log.for_job(handle.job_id)]


def test_rq_whole_worker_killed_mid_job_fails_visibly_and_leaves_the_lists(transactional_db, worker_env, tmp_path,
                                                                          reconciler, event_log):
    from rq import Worker

    set_route("isolated", everyone=True)
    token = uuid.uuid4().hex
    name = f"rq-{token[:6]}"
    worker = WorkerProcess("rq", rq_worker_command(["isolated", "podcast"], name=name), worker_env,
                           tmp_path / "rq.log", name=name).start()
    wait_for_rq(worker, settings.REDIS_URL)
    handle = tasks.isolated_gate.enqueue(token, 120)
    _wait(lambda: (ledger().get(handle.job_id) or None) and ledger().get(handle.job_id).state == TaskStatus.STARTED, 30,
          "the job started")
    killed_at = time.monotonic()
    _kill(worker)
    failed = event_log.wait_for(lambda evs: any(e["event"] == "task.failed" for e in evs), timeout=60, job_id=handle.job_id)
    detected = time.monotonic() - killed_at
    record = ledger().get(handle.job_id)
    assert record.state == TaskStatus.FAILED and record.error_type == "worker_lost"
    assert [e["error_type"] for e in failed if e["event"] == "task.failed"] == ["worker_lost"]
    assert detected < float(settings.TASKBRIDGE.get("LEASE_SECONDS", 30)) + 15
    conn = redis.Redis.from_url(settings.REDIS_URL)
    _wait(lambda: all(w.name != name for w in Worker.all(connection=conn)), 30, "the dead worker left RQ's list")
    assert any(e["event"] == "worker.lost" and e.get("worker") == name for e in event_log.all())


def test_celery_message_prefetched_by_a_killed_worker_runs_once(transactional_db, worker_env, tmp_path, reconciler,
                                                               event_log):
    set_route("isolated", everyone=False)
    token = uuid.uuid4().hex
    name = f"c{token[:6]}"
    worker = WorkerProcess("celery", celery_worker_command(["isolated"], concurrency=1, name=name), worker_env,
                           tmp_path / "celery.log", name=name).start()
    wait_for_celery(worker, settings.REDIS_URL)
    handle = tasks.isolated_mark.using(countdown=15).enqueue(token)
    assert handle.backend == "celery"
    conn = redis.Redis.from_url(settings.REDIS_URL)
    _wait(lambda: any(handle.job_id.encode() in raw for raw in conn.hvals("unacked")), 20, "the worker took the message")
    _wait(lambda: any(handle.job_id in raw.decode() for raw in conn.hvals("taskbridge:presence:celery")), 20,
          "the worker says it holds the job")
    killed_at = time.monotonic()
    _kill(worker)
    again = WorkerProcess("celery", celery_worker_command(["isolated"], concurrency=1, name=name + "b"), worker_env,
                          tmp_path / "celery2.log", name=name + "b").start()
    try:
        wait_for_celery(again, settings.REDIS_URL)
        assert handle.result(timeout=60) == token
        assert time.monotonic() - killed_at < 60
    finally:
        again.stop()
    assert _runs(token) == 1
    assert "task.requeued" in [e["event"] for e in event_log.for_job(handle.job_id)]
