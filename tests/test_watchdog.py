"""The per-process watchdog: renews the leases of the jobs a process runs (only while the run
holding them owns them) and kills the process past a job's hard limit, with one thread per
process (a new one after fork). Real redis-server."""

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


def _begin(job_id: str):
    lease = ledger().lease(job_id)
    assert ledger().begin(job_id, 1, "celery", "default", "tests.taskapp.tasks.add", 60, lease) == "unknown"
    return lease


def test_a_held_lease_outlives_its_lifetime_and_is_given_back_with_the_job(short_lease, redis_conn):
    job_id = uuid.uuid4().hex
    lease = _begin(job_id)
    dog = Watchdog()
    dog.hold(lease, None)
    time.sleep(1.5)  # 2.5 lease lifetimes: alive only because it was renewed
    assert redis_conn.get(lease_key(job_id)) == lease.token.encode()
    dog.release(lease)
    with lease:
        pass  # the run's end gives the lease back
    assert not redis_conn.exists(lease_key(job_id))


def test_the_step_ending_a_run_drops_its_lease_and_only_its_own(short_lease, redis_conn):
    """The ending Lua step (succeeded, failed, retrying) takes the run's lease with it, token checked:
    one round trip for the end of a run, and a redelivery's lease is never dropped by an older run."""
    job_id = uuid.uuid4().hex
    with _begin(job_id) as lease:
        lease.hold()
        assert ledger().succeed(job_id, 3, 60, lease) == "succeeded"
        assert not redis_conn.exists(lease_key(job_id))
        time.sleep(0.3)  # past a renewal period: the watchdog let go of it at the hand-over
        assert not redis_conn.exists(lease_key(job_id))

    other = uuid.uuid4().hex
    with _begin(other) as stale:
        redis_conn.set(lease_key(other), "another-run", px=5000)
        assert ledger().fail(other, "ValueError", "no", 60, stale) == "failed"
    assert redis_conn.get(lease_key(other)) == b"another-run"


def test_a_released_lease_is_not_renewed_and_another_runs_lease_never_touched(short_lease, redis_conn):
    kept, dropped = uuid.uuid4().hex, uuid.uuid4().hex
    kept_lease, dropped_lease = _begin(kept), _begin(dropped)
    dog = Watchdog()
    dog.hold(kept_lease, None)
    dog.hold(dropped_lease, None)
    dog.release(dropped_lease)
    redis_conn.set(lease_key(kept), "another-run", px=600)  # a redelivery took over after this run died
    time.sleep(0.9)
    assert not redis_conn.exists(lease_key(dropped))
    assert redis_conn.get(lease_key(kept)) in (None, b"another-run")  # never renewed under this run's token


def test_one_thread_per_process_however_many_jobs():
    dog = Watchdog()
    before = {t.ident for t in threading.enumerate() if t.name == "taskbridge-watchdog"}
    for n in range(50):
        lease = ledger().lease(f"job-{n}")
        dog.hold(lease, None)
        dog.release(lease)
    started = {t.ident for t in threading.enumerate() if t.name == "taskbridge-watchdog"} - before
    assert len(started) == 1


def test_kills_its_process_past_the_hard_limit_also_in_a_forked_child():
    dog = Watchdog()
    parent = ledger().lease("parent-job")
    dog.hold(parent, None)  # the parent's thread does not survive the fork
    pid = os.fork()
    if pid == 0:
        dog.hold(ledger().lease("child-job"), 0.3)
        time.sleep(5)
        os._exit(0)  # not reached when the watchdog works
    dog.release(parent)
    started = time.monotonic()
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert time.monotonic() - started < 4


def test_a_job_released_before_its_hard_limit_is_not_killed():
    dog = Watchdog()
    pid = os.fork()
    if pid == 0:
        lease = ledger().lease("quick-job")
        dog.hold(lease, 0.3)
        dog.release(lease)
        time.sleep(0.8)
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
