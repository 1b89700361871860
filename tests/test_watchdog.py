"""The per-process watchdog: renews the leases of the jobs a process runs and kills the process
past a job's hard limit, with one thread per process (a new one after fork). Real redis-server."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from taskbridge.ledger import lease_key, ledger
from taskbridge.watchdog import Watchdog


@pytest.fixture
def short_lease(settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "LEASE_SECONDS": 0.6}


def _begin(job_id: str) -> None:
    assert ledger().begin(job_id, 1, "celery", "default", "tests.taskapp.tasks.add", 60) == "unknown"


def test_a_held_lease_outlives_its_lifetime_and_is_given_back_with_the_job(short_lease, redis_conn):
    job_id = uuid.uuid4().hex
    _begin(job_id)
    dog = Watchdog()
    dog.hold(job_id, 1, None)
    time.sleep(1.5)  # 2.5 lease lifetimes: alive only because it was renewed
    assert redis_conn.get(lease_key(job_id)) == b"1"
    dog.release(job_id)
    assert ledger().succeed(job_id, 3, 60) == "succeeded"
    assert not redis_conn.exists(lease_key(job_id))


def test_a_released_lease_is_not_renewed_and_a_deleted_one_not_resurrected(short_lease, redis_conn):
    kept, dropped = uuid.uuid4().hex, uuid.uuid4().hex
    for job_id in (kept, dropped):
        _begin(job_id)
    dog = Watchdog()
    dog.hold(kept, 1, None)
    dog.hold(dropped, 1, None)
    dog.release(dropped)
    redis_conn.delete(lease_key(kept))  # failed as lost elsewhere (the ledger's lose script)
    time.sleep(0.9)
    assert not redis_conn.exists(lease_key(kept)) and not redis_conn.exists(lease_key(dropped))


def test_one_thread_per_process_however_many_jobs():
    dog = Watchdog()
    before = {t.ident for t in threading.enumerate() if t.name == "taskbridge-watchdog"}
    for n in range(50):
        dog.hold(f"job-{n}", 1, None)
        dog.release(f"job-{n}")
    started = {t.ident for t in threading.enumerate() if t.name == "taskbridge-watchdog"} - before
    assert len(started) == 1


def test_kills_its_process_past_the_hard_limit_also_in_a_forked_child():
    dog = Watchdog()
    dog.hold("parent-job", 1, None)  # the parent's thread does not survive the fork
    pid = os.fork()
    if pid == 0:
        dog.hold("child-job", 1, 0.3)
        time.sleep(5)
        os._exit(0)  # not reached when the watchdog works
    dog.release("parent-job")
    started = time.monotonic()
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert time.monotonic() - started < 4


def test_a_job_released_before_its_hard_limit_is_not_killed():
    dog = Watchdog()
    pid = os.fork()
    if pid == 0:
        dog.hold("quick-job", 1, 0.3)
        dog.release("quick-job")
        time.sleep(0.8)
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
