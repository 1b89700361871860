"""The parity matrix: one behaviour on Celery and on RQ, on real workers.

Every scenario runs twice, once with the queue's flag routing to Celery and
once to RQ, against the session's real ``celery worker`` and ``rqworker
--with-scheduler`` processes. Each run asserts the real outcome (side effects
the task left in Redis, the result, the final state through the handle), and
:class:`~tests.parity.harness.Parity` asserts that the two normalised event
sequences are equal. docs/parity.md is the table of these results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import signal
import time

import pytest
from django.db import transaction

from taskbridge import ArgumentError, TaskCancelled, TaskFailed, TaskHandle, TaskStatus
from taskbridge.declaration import Task
from tests.conftest import set_route, start_workers
from tests.parity.harness import OTHER, Parity, is_alive, pid_of_first_run, process_gone, sequence, wait_until
from tests.taskapp import tasks

pytestmark = pytest.mark.integration


@pytest.fixture
def parity(transactional_db, workers, event_log, redis_conn):
    return Parity(event_log, redis_conn, workers)


@contextlib.contextmanager
def busy_worker(parity: Parity, token: str):
    """Both workers' job slots taken by two running gate jobs, so the next job stays queued."""
    blockers = [tasks.gate.enqueue(f"{token}-blocker", 30) for _ in range(2)]
    wait_until(lambda: parity.runs(f"{token}-blocker"), what="a blocker to start")
    time.sleep(0.5)
    try:
        yield
    finally:
        parity.release(f"{token}-blocker")
        for blocker in blockers:
            blocker.result(timeout=30)


def failure(handle: TaskHandle) -> TaskFailed:
    with pytest.raises(TaskFailed) as raised:
        handle.result(timeout=30)
    return raised.value


# --- 1. outcomes ---------------------------------------------------------------


def test_success(parity):
    def success(backend, token):
        handle = tasks.probe.enqueue(token)
        assert handle.backend == backend
        assert handle.result(timeout=30) == {
            "task": "tests.taskapp.tasks.probe", "job_id": handle.job_id, "backend": backend, "queue": "default", "attempt": 1,
        }
        assert [run["kind"] for run in parity.runs(token)] == ["probe"]
        assert handle.status() == TaskStatus.SUCCEEDED
        return {"job": handle}

    runs = parity.run(success)
    assert sequence(runs["rq"]["job"]) == ["task.enqueued", "task.started", "task.succeeded"]


def test_exception(parity):
    def exception(backend, token):
        boom = tasks.boom.enqueue(f"broken {token[:5]}")
        error = failure(boom)
        assert (error.error_type, error.error) == ("ValueError", f"broken {token[:5]}")
        assert boom.status() == TaskStatus.FAILED
        # An exception the task's retry policy does not name is not retried.
        other = tasks.not_retried.enqueue(token)
        assert failure(other).error_type == "KeyError"
        assert [run["attempt"] for run in parity.runs(token)] == [1]
        return {"boom": boom, "not_retried": other}

    runs = parity.run(exception)
    assert sequence(runs["celery"]["boom"]) == ["task.enqueued", "task.started", "task.failed"]


# --- 2. retries and the task context -------------------------------------------


def test_declared_retry_then_success(parity):
    def declared_retry(backend, token):
        handle = tasks.backoff_flaky.enqueue(token, 2)
        assert handle.result(timeout=30) == "ok after 3"
        runs = parity.runs(token)
        assert [(run["attempt"], run["backend"]) for run in runs] == [(1, backend), (2, backend), (3, backend)]
        # exponential backoff from 0.5 s: the second retry waits twice as long as the first
        assert runs[1]["at"] - runs[0]["at"] >= 0.5
        assert runs[2]["at"] - runs[1]["at"] >= 1.0
        return {"job": handle}

    runs = parity.run(declared_retry)
    retrying = [e for e in runs["celery"]["job"] if e["event"] == "task.retrying"]
    assert [(e["countdown"], e["error_type"]) for e in retrying] == [(0.5, "Flaky"), (1.0, "Flaky")]


def test_retries_exhausted_runs_give_up_hook(parity):
    def exhausted(backend, token):
        handle = tasks.always_flaky.enqueue(token, 99)
        error = failure(handle)
        assert error.error_type == "max_retries_exceeded"
        assert int(parity.redis.get(f"tb-test:flaky:{token}")) == 3  # first run + max_retries=2
        assert int(parity.redis.get(f"tb-test:gave-up:{token}")) == 3  # the hook ran, in the last attempt
        assert handle.status() == TaskStatus.FAILED
        return {"job": handle}

    runs = parity.run(exhausted)
    assert sequence(runs["rq"]["job"]) == ["task.enqueued"] + ["task.started", "task.retrying"] * 2 + ["task.started", "task.failed"]


def test_in_task_retry_polling_stays_on_its_backend(parity):
    def polling(backend, token):
        handle = tasks.poll_status.enqueue(token, 3, 1)
        parity.log.wait_for(lambda found: any(e["event"] == "task.retrying" for e in found), job_id=handle.job_id)
        assert handle.status() == TaskStatus.RETRYING
        set_route("default", everyone=OTHER[backend] == "rq")  # flip mid-job: retries stay put
        assert handle.result(timeout=30) == 3
        runs = parity.runs(token)
        assert [(run["attempt"], run["backend"]) for run in runs] == [(1, backend), (2, backend), (3, backend)]
        assert all(later["at"] - earlier["at"] >= 1 for earlier, later in zip(runs, runs[1:]))
        return {"job": handle}

    runs = parity.run(polling)
    assert [e.get("countdown") for e in runs["celery"]["job"] if e["event"] == "task.retrying"] == [1, 1]


# --- 3. timeouts -----------------------------------------------------------------


def test_timeout(parity):
    def timeout(backend, token):
        own = tasks.overrun.enqueue(token)                      # declares timeout=2
        queue_limit = tasks.overrun_queue_limit.enqueue(token)  # the "parity" queue's timeout=3
        for handle, limit in ((own, 2), (queue_limit, 3)):
            error = failure(handle)
            assert (error.error_type, error.error) == ("timeout", f"exceeded its time limit of {limit}s")
            assert handle.status() == TaskStatus.FAILED
        failed = [e for job in (own, queue_limit) for e in parity.log.for_job(job.job_id) if e["event"] == "task.failed"]
        assert [round(e["duration_ms"] / 1000) for e in failed] == [2, 3]
        ticks = {part: parity.redis.get(f"tb-test:ticks:{token}-{part}") for part in ("own", "queue")}
        time.sleep(0.5)
        for part, tick in ticks.items():  # both were stopped: no tick since, never finished
            assert tick and parity.redis.get(f"tb-test:ticks:{token}-{part}") == tick
            assert not parity.redis.exists(f"tb-test:finished:{token}-{part}")
        return {"own": own, "queue": queue_limit}

    parity.run(timeout, queues=("default", "parity"))


def test_timeout_swallowed_by_the_task_is_stopped_hard(parity):
    def stubborn(backend, token):
        handle = tasks.stubborn.enqueue(token)
        pid = pid_of_first_run(parity, token)
        error = failure(handle)
        assert (error.error_type, error.error) == ("timeout", "exceeded its time limit of 2s")
        assert parity.redis.exists(f"tb-test:ignored-timeout:{token}")  # it did swallow the soft one
        wait_until(lambda: process_gone(pid), timeout=5, what="the job's process to be stopped")
        assert not parity.redis.exists(f"tb-test:finished:{token}")
        failed = [e for e in parity.log.for_job(handle.job_id) if e["event"] == "task.failed"]
        assert 6.5 <= failed[0]["duration_ms"] / 1000 < 10  # timeout 2 s + HARD_TIMEOUT_GRACE 5 s (+1 s on RQ)
        parity.sentinel(token)
        return {"job": handle}

    parity.run(stubborn)


# --- 4. delays ---------------------------------------------------------------------


def test_countdown_and_eta(parity):
    def delayed(backend, token):
        sent = time.time()
        later = tasks.mark.using(countdown=2).enqueue(f"{token}-countdown")
        at = tasks.mark.using(eta=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)).enqueue(f"{token}-eta")
        assert later.status() == TaskStatus.SCHEDULED and at.status() == TaskStatus.SCHEDULED
        time.sleep(1)
        assert parity.count(f"{token}-countdown") == 0 and parity.count(f"{token}-eta") == 0
        assert later.result(timeout=30) == f"{token}-countdown" and at.result(timeout=30) == f"{token}-eta"
        for handle in (later, at):
            started = next(e for e in parity.log.for_job(handle.job_id) if e["event"] == "task.started")
            assert dt.datetime.fromisoformat(started["timestamp"]).timestamp() >= sent + 2
        return {"countdown": later, "eta": at}

    runs = parity.run(delayed)
    enqueued = runs["rq"]["countdown"][0]
    assert (enqueued["event"], enqueued["countdown"]) == ("task.enqueued", 2)


# --- 5. cancellation ---------------------------------------------------------------


def test_cancel_while_queued(parity):
    def cancel_queued(backend, token):
        with busy_worker(parity, token):
            handle = tasks.mark.enqueue(token)
            time.sleep(0.3)
            assert handle.status() == TaskStatus.QUEUED
            assert handle.cancel() is True
            assert handle.cancel() is False  # already cancelled
        parity.sentinel(token)
        assert parity.count(token) == 0
        assert handle.status() == TaskStatus.CANCELLED
        with pytest.raises(TaskCancelled):
            handle.result(timeout=1)
        return {"job": handle}

    runs = parity.run(cancel_queued)
    assert [(e["event"], e.get("phase")) for e in runs["celery"]["job"]] == [("task.enqueued", None), ("task.cancelled", "queued")]


def test_cancel_while_scheduled(parity):
    def cancel_scheduled(backend, token):
        handle = tasks.mark.using(countdown=1).enqueue(token)
        assert handle.status() == TaskStatus.SCHEDULED
        assert handle.cancel() is True
        # a job waiting for its next attempt (in-task retry, countdown 1 s) is cancelled the same way
        polling = tasks.poll_status.enqueue(token, 5, 1)
        parity.log.wait_for(lambda found: any(e["event"] == "task.retrying" for e in found), job_id=polling.job_id)
        assert polling.status() == TaskStatus.RETRYING
        assert polling.cancel() is True
        time.sleep(3)  # past their due times, and a scheduler tick later
        parity.sentinel(token)
        assert parity.count(token) == 0
        assert [run["attempt"] for run in parity.runs(token)] == [1]  # the poll never ran again
        assert handle.status() == TaskStatus.CANCELLED and polling.status() == TaskStatus.CANCELLED
        return {"job": handle, "retrying": polling}

    runs = parity.run(cancel_scheduled)
    assert [e.get("phase") for e in runs["rq"]["job"] if e["event"] == "task.cancelled"] == ["scheduled"]
    assert [e.get("phase") for e in runs["rq"]["retrying"] if e["event"] == "task.cancelled"] == ["retrying"]


def test_cancel_while_running_stops_the_job(parity):
    def cancel_running(backend, token):
        handle = tasks.ticker.enqueue(token, 30)
        pid = pid_of_first_run(parity, token)
        wait_until(lambda: parity.redis.exists(f"tb-test:ticks:{token}"), what="the first tick")
        assert handle.status() == TaskStatus.STARTED
        asked = time.monotonic()
        assert handle.cancel() is True
        wait_until(lambda: process_gone(pid), timeout=5, what="the job's process to stop")
        ticks = parity.redis.get(f"tb-test:ticks:{token}")
        time.sleep(0.5)
        assert parity.redis.get(f"tb-test:ticks:{token}") == ticks  # nothing runs it on
        assert time.monotonic() - asked < 5
        assert not parity.redis.exists(f"tb-test:finished:{token}")
        assert handle.status() == TaskStatus.CANCELLED
        with pytest.raises(TaskCancelled):
            handle.result()
        parity.sentinel(token)  # the worker carries on
        return {"job": handle}

    runs = parity.run(cancel_running)
    assert [(e["event"], e.get("phase")) for e in runs["celery"]["job"]][-1] == ("task.cancelled", "started")


def test_is_cancelled_seen_by_running_job(parity):
    def cooperative(backend, token):
        handle = tasks.cooperative.enqueue(token, 200)
        wait_until(lambda: parity.redis.exists(f"tb-test:started:{token}"), what="the job to start")
        pid = int(parity.redis.get(f"tb-test:started:{token}"))
        time.sleep(0.3)
        assert handle.cancel(grace=5) is True
        step = wait_until(lambda: parity.redis.get(f"tb-test:saw-cancel:{token}"), timeout=5, what="the job to notice")
        assert 0 < int(step) < 200
        if backend == "celery":
            assert is_alive(pid)  # it returned by itself: the pool process was not killed
        assert handle.status() == TaskStatus.CANCELLED
        with pytest.raises(TaskCancelled):
            handle.result()
        return {"job": handle}

    runs = parity.run(cooperative)
    assert sequence(runs["rq"]["job"]) == ["task.enqueued", "task.started", "task.cancelled"]


# --- 6. de-duplication -----------------------------------------------------------------


def test_fixed_job_id_deduplication(parity):
    def dedup(backend, token):
        ids = {phase: f"ragflow-status-{token}-{phase}" for phase in ("queued", "scheduled", "started")}
        found = {}
        with busy_worker(parity, token):
            first = tasks.mark.using(job_id=ids["queued"]).enqueue(f"{token}-queued")
            assert first.status() == TaskStatus.QUEUED
            again = tasks.mark.using(job_id=ids["queued"]).enqueue(f"{token}-queued")
            assert again == first
            found["queued"] = first
        first = tasks.mark.using(countdown=1, job_id=ids["scheduled"]).enqueue(f"{token}-scheduled")
        assert tasks.mark.using(job_id=ids["scheduled"]).enqueue(f"{token}-scheduled") == first
        found["scheduled"] = first
        first = tasks.gate.using(job_id=ids["started"]).enqueue(f"{token}-started")
        wait_until(lambda: first.status() == TaskStatus.STARTED, what="the gate job to start")
        set_route("default", everyone=OTHER[backend] == "rq")  # a dispatch routed elsewhere still finds it
        again = tasks.gate.using(job_id=ids["started"]).enqueue(f"{token}-started")
        assert again == first and again.backend == backend
        parity.release(f"{token}-started")
        found["started"] = first
        for handle in found.values():
            handle.result(timeout=30)
        assert parity.count(f"{token}-queued") == 1 and parity.count(f"{token}-scheduled") == 1
        assert len(parity.runs(f"{token}-started")) == 1
        return found

    runs = parity.run(dedup)
    assert [e["event"] for e in runs["rq"]["started"]] == ["task.enqueued", "task.started", "task.skipped", "task.succeeded"]
    assert [e["reason"] for e in runs["celery"]["queued"] if e["event"] == "task.skipped"] == ["duplicate job id (already queued)"]


def test_fixed_job_id_runs_again_after_the_first_ended(parity):
    def rerun(backend, token):
        job_id = f"ragflow-status-{token}"
        first = tasks.mark.using(job_id=job_id).enqueue(token)
        first.result(timeout=30)
        first_events = parity.settled(first)
        second = tasks.mark.using(job_id=job_id).enqueue(token)
        assert second == first
        wait_until(lambda: parity.count(token) == 2, what="the second run")
        assert second.result(timeout=30) == token
        return {"first": first_events, "second": parity.settled(second)[len(first_events):]}

    runs = parity.run(rerun)
    assert sequence(runs["celery"]["second"]) == ["task.enqueued", "task.started", "task.succeeded"]


# --- 7. chains, commit, arguments, unknown tasks, handles ---------------------------------


def test_chain(parity):
    def chain(backend, token):
        parent = tasks.chain_parent.enqueue(token)
        child = TaskHandle.from_string(parent.result(timeout=30))
        assert child.backend == backend
        assert child.result(timeout=30) == token
        assert parity.count(token) == 1
        parent_events, child_events = parity.settled(parent), parity.settled(child)
        assert {e["correlation_id"] for e in parent_events + child_events} == {parent_events[0]["correlation_id"]}
        return {"parent": parent_events, "child": child_events}

    parity.run(chain)


def test_dispatch_on_commit_and_none_on_rollback(parity):
    class Rollback(Exception):
        pass

    def on_commit(backend, token):
        with transaction.atomic():
            committed = tasks.mark.enqueue_on_commit(f"{token}-commit")
            assert committed.backend == backend
            time.sleep(0.3)
            assert parity.log.for_job(committed.job_id) == []
            assert committed.status() == TaskStatus.UNKNOWN
        assert committed.result(timeout=30) == f"{token}-commit"
        with pytest.raises(Rollback), transaction.atomic():
            rolled_back = tasks.mark.enqueue_on_commit(f"{token}-rollback")
            raise Rollback
        parity.sentinel(token)
        assert parity.count(f"{token}-rollback") == 0
        assert rolled_back.status() == TaskStatus.UNKNOWN
        return {"commit": committed, "rollback": parity.log.for_job(rolled_back.job_id)}

    runs = parity.run(on_commit)
    assert runs["rq"]["rollback"] == [] and sequence(runs["rq"]["commit"])[-1] == "task.succeeded"


def test_bad_arguments_fail_at_dispatch(parity):
    calls = [
        ((b"raw bytes", {}), "args[0] is a bytes"),
        (("t", {"when": dt.date(2024, 1, 1)}), "args[1]['when'] is a date"),
        (("t", {1: "int key"}), "args[1][1] has a int key"),
        (("t", (1, 2)), "args[1] is a tuple"),
        (("t",), "(call) does not match the signature"),
        (("t", {}, "extra"), "(call) does not match the signature"),
    ]

    errors = {}

    def bad_arguments(backend, token):
        before = len(parity.log.all())
        errors[backend] = []
        for args, expected in calls:
            with pytest.raises(ArgumentError) as raised:
                tasks.typed.enqueue(*args)
            message = str(raised.value)
            assert message.startswith("tests.taskapp.tasks.typed: ") and expected in message, message
            errors[backend].append(message)
        parity.sentinel(token)
        assert parity.runs(token) == []
        return {"events": [e for e in parity.log.all()[before:] if e.get("task") == "tests.taskapp.tasks.typed"]}

    runs = parity.run(bad_arguments)
    assert runs["celery"]["events"] == [] and errors["celery"] == errors["rq"]


def test_unknown_task_is_failed_visibly_and_worker_keeps_running(parity):
    # A task a newer release dispatches and these workers do not have.
    ghost = Task(func=lambda token: token, name="tests.taskapp.tasks.not_deployed_here", queue="default")

    def unknown(backend, token):
        handle = ghost.enqueue(token)
        error = failure(handle)
        assert error.error_type == "unknown_task"
        assert "tests.taskapp.tasks.not_deployed_here" in error.error
        assert handle.status() == TaskStatus.FAILED
        parity.sentinel(token)  # the worker is still taking jobs
        return {"job": handle}

    runs = parity.run(unknown)
    assert sequence(runs["celery"]["job"]) == ["task.enqueued", "task.failed"]


def _send_raw(backend: str, func: str, args: list, job_id: str) -> None:
    """A message written straight into the backend's queue, as anyone who can write to Redis could."""
    if backend == "celery":
        from celery import current_app

        current_app.send_task(func, args=args, task_id=job_id, queue="default")
    else:
        import django_rq
        from rq.serializers import JSONSerializer

        django_rq.get_queue("default", serializer=JSONSerializer).enqueue_call(func, args=args, job_id=job_id)


def test_an_undeclared_callable_sent_straight_to_the_queue_never_runs(parity, tmp_path):
    def undeclared(backend, token):
        target = tmp_path / f"made-by-{backend}"
        job_id = f"raw-{token}"
        _send_raw(backend, "os.mkdir", [str(target)], job_id)
        failed = parity.log.wait_for_terminal(job_id, 30)[-1]
        parity.sentinel(token)  # the worker ran on
        assert not target.exists()
        assert failed["event"] == "task.failed" and failed["error_type"] == "unknown_task" and "os.mkdir" in failed["error"]
        assert TaskHandle(backend, "default", job_id).status() == TaskStatus.FAILED
        return {"events": parity.log.for_job(job_id)}

    runs = parity.run(undeclared)
    assert sequence(runs["rq"]["events"]) == ["task.failed"]


def test_worker_process_killed_mid_job(parity):
    def killed(backend, token):
        handle = tasks.ticker.enqueue(token, 30)
        pid = pid_of_first_run(parity, token)
        wait_until(lambda: parity.redis.exists(f"tb-test:ticks:{token}"), what="the first tick")
        os.kill(pid, signal.SIGKILL)
        error = failure(handle)
        assert (error.error_type, error.error) == ("worker_lost", "the process running the job died (killed by signal 9 (SIGKILL))")
        assert handle.status() == TaskStatus.FAILED
        parity.sentinel(token)
        assert len(parity.runs(token)) == 1  # not re-run behind anyone's back
        assert not parity.redis.exists(f"tb-test:finished:{token}")
        return {"job": handle}

    runs = parity.run(killed)
    assert sequence(runs["rq"]["job"]) == ["task.enqueued", "task.started", "task.failed"]


def test_handle_string_works_from_any_process_after_a_flip(parity):
    def handles(backend, token):
        handle = tasks.mark.enqueue(token)
        stored = str(handle)  # what a model's CharField keeps
        assert len(stored) <= 255 and TaskHandle.from_string(stored) == handle
        handle.result(timeout=30)
        set_route("default", everyone=OTHER[backend] == "rq")
        again = TaskHandle.from_string(stored)
        assert again.status() == TaskStatus.SUCCEEDED and again.result() == token
        reader = tasks.inspect_handle.enqueue(stored)  # runs on the other backend's worker
        assert reader.backend == OTHER[backend]
        assert reader.result(timeout=30) == {"status": "succeeded", "result": token}
        assert TaskHandle(backend, "default", f"never-{token}").status() == TaskStatus.UNKNOWN
        return {"job": handle}

    parity.run(handles)


@pytest.fixture
def isolated_workers(worker_env, tmp_path, settings):
    """A Celery and an RQ worker of this test's own, on a queue only they consume, to kill."""
    from tests.parity import isolated_settings

    settings.TASKBRIDGE = isolated_settings.TASKBRIDGE
    settings.RQ_QUEUES = isolated_settings.RQ_QUEUES
    env = {**worker_env, "DJANGO_SETTINGS_MODULE": "tests.parity.isolated_settings"}
    celery, rq = start_workers(env, tmp_path, "isolated", queues=[isolated_settings.ISOLATED_QUEUE])
    yield {"celery": celery, "rq": rq}
    for worker in (celery, rq):
        worker.stop()  # already killed by the test, unless it failed first
        with contextlib.suppress(AttributeError):
            worker._log.close()


def test_whole_worker_killed_mid_job(parity, isolated_workers):
    """The whole worker dies with the job (node lost, OOM-killed container): nobody is left to
    report it, so the job's lease runs out and the next status() records it as failed."""
    from tests.parity.isolated_settings import ISOLATED_QUEUE

    ticker = dataclasses.replace(tasks.ticker, queue=ISOLATED_QUEUE)

    def whole_worker_killed(backend, token):
        handle = ticker.enqueue(token, 30)
        assert handle.queue == ISOLATED_QUEUE
        job_pid = pid_of_first_run(parity, token)
        worker = isolated_workers[backend]
        os.killpg(worker.pid, signal.SIGKILL)  # the worker, its pool / scheduler processes ...
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(job_pid), signal.SIGKILL)  # ... and RQ's work horse, its own group
        worker.process.wait(5)
        wait_until(lambda: process_gone(job_pid), timeout=5, what="the job's process to die")
        assert handle.status() == TaskStatus.STARTED  # its lease has not run out yet
        wait_until(lambda: handle.status() == TaskStatus.FAILED, timeout=10, what="the lost job to be noticed")
        error = failure(handle)
        assert error.error_type == "worker_lost" and "lease" in error.error
        time.sleep(0.5)
        assert len(parity.runs(token)) == 1 and not parity.redis.exists(f"tb-test:finished:{token}")
        parity.log.wait_for_terminal(handle.job_id)
        time.sleep(0.3)
        return {"job": parity.log.for_job(handle.job_id)}

    runs = parity.run(whole_worker_killed, queues=(ISOLATED_QUEUE,))
    failed = runs["celery"]["job"][-1]
    assert (failed["event"], failed["pid"]) == ("task.failed", os.getpid())  # written by the process that noticed
