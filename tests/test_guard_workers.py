"""The guard against real workers and a real redis-server: a 25 % canary whose RQ worker has
a wrong database URL is rolled back by itself within 15 s of its first failures; a healthy
canary with noisy timings is left alone. The guard runs as its documented command."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from taskbridge import stream
from taskbridge.compare.times import parse_iso
from taskbridge.states import TaskStatus
from taskbridge.models import RouteChange
from taskbridge.testing import settle, wait_for
from tests.conftest import set_route
from tests.support.workers import ROOT, WorkerProcess, celery_worker_command, rq_worker_command, wait_for_celery, wait_for_rq
from tests.taskapp.tasks import count_users, isolated_count_users

QUEUE = "default"
#: Consumed only by the failing-canary test's own workers (one healthy Celery, one broken RQ).
ISOLATED = "isolated"


def start_guard(worker_env, tmp_path, interval: float) -> tuple[subprocess.Popen, object]:
    log = open(tmp_path / "guard.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "taskbridge", "guard", "--interval", str(interval)],
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return process, log


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(15)


def guard_rollbacks(since_id: int, queue: str = QUEUE) -> list[RouteChange]:
    return list(RouteChange.objects.filter(id__gt=since_id, queue=queue, origin=RouteChange.Origin.GUARD))


def last_change_id() -> int:
    return RouteChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.mark.integration
def test_a_canary_failing_on_the_candidate_is_rolled_back_within_15_seconds(transactional_db, worker_env, tmp_path, redis_conn, redis_url, event_log):
    stream.reset(redis_conn)
    redis_conn.delete("taskbridge:guard:lease", "taskbridge:guard:state")
    broken_env = {**worker_env, "DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/none.sqlite3"}
    celery = WorkerProcess("celery", celery_worker_command([ISOLATED], name="guard-ok"), worker_env, tmp_path / "celery.log", name="guard-ok").start()
    rq = WorkerProcess("rq", rq_worker_command([ISOLATED], name="guard-broken"), broken_env, tmp_path / "rq.log", name="guard-broken").start()
    guard, _log = start_guard(worker_env, tmp_path, interval=1.0)
    try:
        wait_for_celery(celery, redis_url)
        wait_for_rq(rq, redis_url)
        set_route(ISOLATED, everyone=False)
        for _ in range(30):
            isolated_count_users.enqueue()  # the baseline's reference
        before = last_change_id()
        set_route(ISOLATED, percent=25)
        settle()
        started = time.time()
        sent = []
        while time.time() - started < 40 and not guard_rollbacks(before, ISOLATED):
            sent.append(isolated_count_users.enqueue())
            time.sleep(0.05)
        [rollback] = guard_rollbacks(before, ISOLATED)
        rolled_at = rollback.changed_at.timestamp()
        failures = [
            event for event in event_log.all()
            if event["event"] == "task.failed" and event.get("backend") == "rq" and event.get("error_type") == "OperationalError"
            and event["timestamp"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started - 1))
        ]
        first_failure = min(parse_iso(event["timestamp"]) for event in failures)
        print(f"time to rollback after the first candidate failure: {rolled_at - first_failure:.1f}s ({len(sent)} jobs sent)")
        assert rolled_at - first_failure < 15
        assert rollback.from_route == "rq 25%" and rollback.to_route == "celery"
        assert "success rate rq" in rollback.reason
        routed_event = event_log.wait_for(lambda found: any(e["event"] == "route.changed" and e.get("origin") == "guard" and e.get("reason") == rollback.reason for e in found))
        assert routed_event

        settle()
        after = [isolated_count_users.enqueue() for _ in range(20)]
        assert {handle.backend for handle in after} == {"celery"}
        assert {wait_for(handle, timeout=60) for handle in after} == {TaskStatus.SUCCEEDED}
    finally:
        stop(guard)
        celery.stop()
        rq.stop()
        set_route(ISOLATED, everyone=False)


@pytest.mark.integration
def test_a_healthy_canary_with_noisy_timings_is_not_rolled_back(transactional_db, worker_env, tmp_path, redis_conn, workers):
    stream.reset(redis_conn)
    redis_conn.delete("taskbridge:guard:lease", "taskbridge:guard:state")
    set_route(QUEUE, everyone=False)
    before = last_change_id()
    set_route(QUEUE, percent=25)
    guard, _log = start_guard(worker_env, tmp_path, interval=0.5)
    rng = random.Random(3)
    try:
        started = time.time()
        sent = 0
        while time.time() - started < 25:
            count_users.enqueue(pause=min(rng.lognormvariate(-3.5, 1.0), 0.5))
            sent += 1
            time.sleep(0.06)
        time.sleep(3)
        assert guard.poll() is None
        assert guard_rollbacks(before) == []
        assert redis_conn.get("taskbridge:guard:state") is not None
    finally:
        stop(guard)
        set_route(QUEUE, everyone=False)
    print((tmp_path / "guard.log").read_text()[-2000:])
    assert sent > 200
