"""Moving a queue's backlog on a route change (taskbridge.move), on real workers and a real
redis-server. Queue ``backlog`` is consumed only by the workers these tests start, so a test
can stop one backend's workers ("it broke") and still have the other's.

What is asserted is what really ran: every run of ``backlog_job`` leaves a record (job id,
backend, attempt, time) in Redis.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from django.conf import settings

from taskbridge import TaskHandle, conf, set_route
from taskbridge.ledger import ledger
from taskbridge.move import last_move, move
from taskbridge.states import TaskStatus
from taskbridge.testing import settle
from tests.support.workers import WorkerProcess, celery_worker_command, rq_worker_command, wait_for_celery, wait_for_rq
from tests.taskapp.tasks import backlog_job

QUEUE = "backlog"


def _worker(kind: str, worker_env: dict[str, str], tmp: Path, name: str) -> WorkerProcess:
    if kind == conf.baseline():
        worker = WorkerProcess(kind, celery_worker_command([QUEUE], concurrency=2, name=name), worker_env, tmp / f"{name}.log", name=name)
        worker.start()
        wait_for_celery(worker, settings.REDIS_URL)
    else:
        worker = WorkerProcess(kind, rq_worker_command([QUEUE], name=name), worker_env, tmp / f"{name}.log", name=name)
        worker.start()
        wait_for_rq(worker, settings.REDIS_URL)
    return worker


def _runs(redis_conn, token: str) -> list[dict]:
    return [json.loads(line) for line in redis_conn.lrange(f"tb-test:backlog-log:{token}", 0, -1)]


def _wait_runs(redis_conn, token: str, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while redis_conn.llen(f"tb-test:backlog-log:{token}") < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # anything that would run twice has had time to
    return _runs(redis_conn, token)


def _route(target: str, backlog: str | None = None) -> None:
    set_route(QUEUE, target, backlog=backlog, reason="tests.test_move")


def _other(alias: str) -> str:
    return conf.candidate() if alias == conf.baseline() else conf.baseline()


@pytest.mark.integration
@pytest.mark.parametrize("broken", ["rq", "celery"])
def test_rollback_moves_queued_scheduled_and_retrying_jobs_to_the_healthy_backend(
    broken, transactional_db, worker_env, redis_conn, tmp_path
):
    healthy = _other(broken)
    token = f"move-{broken}-{time.time_ns()}"
    _route(broken, backlog="keep")
    settle()

    # 20 jobs run their first attempt on the backend about to break and wait for a retry there.
    old = _worker(broken, worker_env, tmp_path, f"{broken}-old")
    retrying = [backlog_job.enqueue(token, item, retry_in=12.0) for item in range(20)]
    deadline = time.monotonic() + 60
    while redis_conn.zcard(f"tb-test:backlog-retry-due:{token}") < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    while any(ledger().get(h.job_id).state != TaskStatus.RETRYING for h in retrying) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # the last attempt hands its retry to the backend
    old.stop()  # the backend "breaks": no worker of it consumes the queue any more

    queued = [backlog_job.enqueue(token, 1000 + item) for item in range(500)]
    etas = {}
    scheduled = []
    for item in range(50):
        eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=6 + item % 5)
        handle = backlog_job.using(eta=eta).enqueue(token, 2000 + item, not_before=eta.timestamp())
        etas[handle.job_id] = eta.timestamp()
        scheduled.append(handle)
    assert {h.backend for h in retrying + queued + scheduled} == {broken}
    assert get_backlog(broken) >= 570

    new = _worker(healthy, worker_env, tmp_path, f"{healthy}-new")
    try:
        _route(healthy, backlog="move")  # the rollback, with the backlog
        report = last_move(QUEUE)
        assert report["moved"] == {f"{broken}->{healthy}": 570}, report
        assert report["states"] == {"queued": 500, "scheduled": 50, "retrying": 20}, report
        runs = _wait_runs(redis_conn, token, 20 + 20 + 500 + 50, timeout=180)
    finally:
        new.stop()

    per_job: dict[str, list[dict]] = {}
    for run in runs:
        per_job.setdefault(run["job_id"], []).append(run)
    for handle in queued + scheduled:
        assert [(r["backend"], r["attempt"]) for r in per_job.get(handle.job_id, [])] == [(healthy, 1)], handle
        assert TaskHandle.from_string(str(handle)).status() == TaskStatus.SUCCEEDED  # the stored handle still answers
    retry_due = {k.decode(): v for k, v in redis_conn.zrange(f"tb-test:backlog-retry-due:{token}", 0, -1, withscores=True)}
    for handle in retrying:
        assert [(r["backend"], r["attempt"]) for r in per_job[handle.job_id]] == [(broken, 1), (healthy, 2)], handle
        assert per_job[handle.job_id][1]["at"] >= retry_due[handle.job_id] - 0.05, "a moved retry ran before its countdown"
    for handle in scheduled:
        assert per_job[handle.job_id][0]["at"] >= etas[handle.job_id] - 0.05, "a moved scheduled job ran before its eta"
    assert sum(len(r) for r in per_job.values()) == 590
    assert get_backlog(broken) == 0, "the old messages were not removed"


def get_backlog(alias: str) -> int:
    from taskbridge.backends import get_backend

    return get_backend(alias).backlog(QUEUE)


@pytest.mark.integration
def test_moving_while_the_old_backends_workers_run_loses_and_duplicates_nothing(
    transactional_db, worker_env, redis_conn, tmp_path
):
    source, target = conf.candidate(), conf.baseline()
    token = f"race-{time.time_ns()}"
    _route(source, backlog="keep")
    settle()
    old = _worker(source, worker_env, tmp_path, f"{source}-racing")
    new = _worker(target, worker_env, tmp_path, f"{target}-taking")
    try:
        handles = [backlog_job.enqueue(token, item) for item in range(2000)]
        _route(target, backlog="keep")
        report = move(QUEUE)  # the old backend's worker keeps taking jobs meanwhile
        runs = _wait_runs(redis_conn, token, 2000, timeout=240)
    finally:
        old.stop()
        new.stop()
    counts = {k.decode(): int(v) for k, v in redis_conn.hgetall(f"tb-test:backlog-runs:{token}").items()}
    lost = [h.job_id for h in handles if h.job_id not in counts]
    twice = {job: n for job, n in counts.items() if n != 1}
    assert (lost, twice) == ([], {})
    ran_on = {run["job_id"]: run["backend"] for run in runs}
    moved = report.moved.get(f"{source}->{target}", 0)
    assert moved > 0 and sum(1 for b in ran_on.values() if b == target) == moved
    assert sum(1 for b in ran_on.values() if b == source) == 2000 - moved


@pytest.mark.integration
def test_a_fixed_id_job_is_still_deduplicated_and_its_stored_handle_answers_after_a_move(
    transactional_db, worker_env, redis_conn, tmp_path
):
    source, target = conf.candidate(), conf.baseline()
    token = f"fixed-{time.time_ns()}"
    job_id = f"ragflow-status-{time.time_ns()}"
    _route(source, backlog="keep")
    settle()
    first = backlog_job.using(job_id=job_id, countdown=4).enqueue(token, 1)
    stored = str(first)
    assert first.backend == source

    _route(target, backlog="move")
    again = backlog_job.using(job_id=job_id).enqueue(token, 2)  # the same id while the moved job waits
    assert again.backend == target, "the duplicate dispatch does not see the moved job"
    new = _worker(target, worker_env, tmp_path, f"{target}-fixed")
    try:
        assert TaskHandle.from_string(stored).result(timeout=30) == 1
    finally:
        new.stop()
    assert [(r["item"], r["backend"]) for r in _runs(redis_conn, token)] == [(1, target)]


@pytest.mark.integration
def test_a_cancelled_moved_job_does_not_run(transactional_db, worker_env, redis_conn, tmp_path):
    source, target = conf.baseline(), conf.candidate()
    token = f"cancel-{time.time_ns()}"
    _route(source, backlog="keep")
    settle()
    handle = backlog_job.using(countdown=3).enqueue(token, 7)
    _route(target, backlog="move")
    assert TaskHandle.from_string(str(handle)).cancel()
    new = _worker(target, worker_env, tmp_path, f"{target}-cancel")
    try:
        time.sleep(5)
    finally:
        new.stop()
    assert _runs(redis_conn, token) == []
    assert handle.status() == TaskStatus.CANCELLED


def test_an_old_message_is_refused_once_the_job_has_moved(redis_conn):
    """The ledger alone: a delivery of the message sent before a move is not started; one of
    the current generation is; a job that started is not moved."""
    jobs = ledger()
    job_id = f"gen-{time.time_ns()}"
    jobs.write([("HSET", f"taskbridge:job:{job_id}", "backend", "a", "queue", QUEUE, "task", "t", "state", "queued")])
    moved = jobs.move([job_id], "a", "b")[0]
    assert (moved.moved, moved.state, moved.generation) == (True, "queued", 1)
    assert jobs.begin(job_id, 1, "a", QUEUE, "t", 10, jobs.lease(job_id), generation=0) == "moved"
    assert jobs.get(job_id).state == TaskStatus.QUEUED
    assert jobs.move([job_id], "a", "b")[0].state == "elsewhere"
    assert jobs.begin(job_id, 1, "b", QUEUE, "t", 10, jobs.lease(job_id), generation=1) == "queued"
    assert jobs.move([job_id], "b", "a")[0].state == "started"
    assert jobs.move([f"none-{job_id}"], "a", "b")[0].state == "missing"


def test_status_and_the_move_command_show_each_backends_backlog_and_the_last_move(transactional_db, redis_conn):
    """No worker consumes the queue here: the jobs wait, and the command moves them."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from taskbridge.backends import get_backend
    from taskbridge.cutover import snapshot

    source, target = conf.candidate(), conf.baseline()
    _route(source, backlog="keep")
    for backend in (source, target):  # leftovers of earlier tests on this queue
        get_backend(backend).remove(QUEUE, get_backend(backend).pending(QUEUE))
    token = f"cli-{time.time_ns()}"
    handles = [backlog_job.enqueue(token, item) for item in range(3)]
    handles.append(backlog_job.using(countdown=300).enqueue(token, 3))
    _route(target, backlog="keep")  # keep: the four stay on the source
    view = {q.queue: q for q in snapshot().queues}[QUEUE]
    assert (view.backends[source].backlog, view.backends[target].backlog) == (4, 0)

    out = StringIO()
    call_command("taskbridge", "move", QUEUE, "--dry-run", stdout=out)
    assert f"would move 4 {source}->{target}" in out.getvalue()
    assert get_backend(source).backlog(QUEUE) == 4

    out = StringIO()
    call_command("taskbridge", "move", QUEUE, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["moved"], report["states"]) == ({f"{source}->{target}": 4}, {"queued": 3, "scheduled": 1})
    assert {ledger().get(h.job_id).backend for h in handles} == {target}
    assert all(TaskHandle.from_string(str(h)).status() in (TaskStatus.QUEUED, TaskStatus.SCHEDULED) for h in handles)

    out = StringIO()
    call_command("taskbridge", "status", stdout=out)
    view = {q.queue: q for q in snapshot().queues}[QUEUE]
    assert (view.backends[source].backlog, view.backends[target].backlog) == (0, 4)
    assert "last move:" in out.getvalue() and f"moved 4 {source}->{target}" in out.getvalue()

    for args, message in ((["nope"], "queue 'nope' is not in TASKBRIDGE"), ([QUEUE, "--to", "nope"], "not a configured backend"),
                          ([QUEUE, "--task", "tests.taskapp.tasks.mark"], "not a declared task of queue")):
        with pytest.raises(CommandError, match=message):
            call_command("taskbridge", "move", *args, stdout=StringIO())
    get_backend(target).remove(QUEUE, get_backend(target).pending(QUEUE))
    for handle in handles:
        handle.cancel()
