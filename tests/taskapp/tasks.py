"""Tasks the tests dispatch to real workers. Each writes a side effect to Redis
(``tb-test:*`` keys) so a test can check what really ran, where and how often."""

from __future__ import annotations

import os
import time

import redis
from django.conf import settings

from taskbridge import RetryPolicy, context, task


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _record_run(kind: str, token: str) -> None:
    ctx = context.current()
    backend = ctx.backend if ctx else "inline"
    _redis().rpush(f"tb-test:runs:{token}", f"{kind}|{backend}|{ctx.attempt if ctx else 0}|{os.getpid()}")


@task(queue="default")
def add(x: int, y: int, token: str = "") -> int:
    if token:
        _record_run("add", token)
    return x + y


@task(queue="default")
def mark(token: str) -> str:
    """One side effect per run: INCR a per-token counter and remember the backend."""
    ctx = context.current()
    conn = _redis()
    conn.incr(f"tb-test:count:{token}")
    conn.rpush(f"tb-test:backend:{token}", ctx.backend if ctx else "inline")
    return token


@task(queue="default")
def boom(message: str) -> None:
    raise ValueError(message)


class Flaky(Exception):
    pass


@task(queue="default", retry=RetryPolicy(on=(Flaky,), max_retries=2, countdown=0))
def flaky(token: str, fail_times: int) -> str:
    conn = _redis()
    runs = conn.incr(f"tb-test:flaky:{token}")
    if runs <= fail_times:
        raise Flaky(f"run {runs} of {fail_times} failing runs")
    return f"ok after {runs}"


def _gave_up(token: str, fail_times: int) -> None:
    _redis().set(f"tb-test:gave-up:{token}", context.current().attempt)


@task(queue="default", retry=RetryPolicy(on=(Flaky,), max_retries=2, countdown=0), on_give_up=_gave_up)
def always_flaky(token: str, fail_times: int) -> None:
    _redis().incr(f"tb-test:flaky:{token}")
    raise Flaky("always")


@task(queue="default")
def poll_until(token: str, done_after: int, countdown: float = 1) -> int:
    """Like check_ragflow_status_task: in-task retry while the work is not done."""
    polls = _redis().incr(f"tb-test:polls:{token}")
    if polls < done_after:
        context.retry(countdown=countdown, max_retries=10)
    return polls


@task(queue="default", timeout=2)
def sleepy(seconds: float, token: str = "") -> str:
    if token:
        _redis().set(f"tb-test:started:{token}", os.getpid())
    time.sleep(seconds)
    return "slept"


@task(queue="default")
def hold(token: str, seconds: float) -> str:
    """Notes its start, then keeps its worker slot for ``seconds`` without touching Redis:
    a job in flight across a Redis outage (tests/test_outage.py)."""
    _note("hold", token)
    time.sleep(seconds)
    return "held"


@task(queue="default")
def cooperative(token: str, steps: int) -> int:
    conn = _redis()
    conn.set(f"tb-test:started:{token}", os.getpid())
    for step in range(steps):
        if context.is_cancelled():
            conn.set(f"tb-test:saw-cancel:{token}", step)
            return step
        time.sleep(0.1)
    return steps


@task(queue="default")
def chain_parent(token: str) -> str:
    handle = mark.enqueue(token)
    _redis().set(f"tb-test:child:{token}", str(handle))
    return str(handle)


# ---------------------------------------------------------------------------
# Tasks for the parity matrix (tests/test_parity.py). Every run leaves a side
# effect under ``tb-test:*`` so the tests check what really ran, where, when.


def _note(kind: str, token: str, **extra: object) -> None:
    """Append one run record (JSON) to ``tb-test:runs:<token>``."""
    import json

    ctx = context.current()
    record = {
        "kind": kind, "backend": ctx.backend if ctx else "inline", "attempt": ctx.attempt if ctx else 0,
        "pid": os.getpid(), "at": time.time(), **extra,
    }
    _redis().rpush(f"tb-test:runs:{token}", json.dumps(record))


@task(queue="default")
def probe(token: str) -> dict:
    """Returns what the task context says about the running job."""
    ctx = context.current()
    _note("probe", token)
    return {"task": ctx.task_name, "job_id": ctx.job_id, "backend": ctx.backend, "queue": ctx.queue, "attempt": ctx.attempt}


@task(queue="default")
def gate(token: str, limit: float = 30) -> str:
    """Runs until ``tb-test:release:<token>`` exists (at most ``limit`` s): a job that is
    running for as long as a test needs it to."""
    conn = _redis()
    _note("gate", token)
    deadline = time.monotonic() + limit
    while not conn.exists(f"tb-test:release:{token}") and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


@task(queue="default")
def ticker(token: str, seconds: float) -> int:
    """A long job that counts its ticks; ``finished`` is set only if it runs to the end."""
    conn = _redis()
    _note("ticker", token)
    ticks = int(seconds / 0.05)
    for tick in range(ticks):
        conn.set(f"tb-test:ticks:{token}", tick)
        time.sleep(0.05)
    conn.set(f"tb-test:finished:{token}", 1)
    return ticks


def _tick_for(token: str, seconds: float) -> None:
    conn = _redis()
    for tick in range(int(seconds / 0.05)):
        conn.set(f"tb-test:ticks:{token}", tick)
        time.sleep(0.05)
    conn.set(f"tb-test:finished:{token}", 1)


@task(queue="default", timeout=2)
def overrun(token: str) -> str:
    """Declares a 2 s timeout and needs 10 s."""
    _note("overrun", token)
    _tick_for(f"{token}-own", 10)
    return "finished"


@task(queue="parity")
def overrun_queue_limit(token: str) -> str:
    """No timeout of its own: the ``parity`` queue's (3 s) applies."""
    _note("overrun", token)
    _tick_for(f"{token}-queue", 10)
    return "finished"


@task(queue="default", retry=RetryPolicy(on=(Flaky,), max_retries=3, countdown=0.5, backoff="exponential"))
def backoff_flaky(token: str, fail_times: int) -> str:
    runs = _redis().incr(f"tb-test:flaky:{token}")
    _note("backoff_flaky", token)
    if runs <= fail_times:
        raise Flaky(f"run {runs} of {fail_times} failing runs")
    return f"ok after {runs}"


@task(queue="default", retry=RetryPolicy(on=(Flaky,), max_retries=3))
def not_retried(token: str) -> None:
    """Its policy retries Flaky only; a KeyError fails at once."""
    _note("not_retried", token)
    raise KeyError("not in the retry policy")


@task(queue="default")
def poll_status(token: str, done_after: int, countdown: float = 1) -> int:
    """check_ragflow_status_task's shape: retry itself until the remote work is done."""
    polls = _redis().incr(f"tb-test:polls:{token}")
    _note("poll", token)
    if polls < done_after:
        context.retry(countdown=countdown, max_retries=5)
    return polls


@task(queue="default")
def inspect_handle(handle: str) -> dict:
    """Reads another job's handle (a string, as stored in a model field) from inside a worker."""
    from taskbridge import TaskHandle

    found = TaskHandle.from_string(handle)
    return {"status": found.status().value, "result": found.result(timeout=10)}


@task(queue="default")
def typed(token: str, payload: dict) -> int:
    _note("typed", token)
    return len(payload)


@task(queue="default")
def record_run(batch: str) -> None:
    """Records which job ran on which backend, once per run (the flip-under-load check)."""
    ctx = context.current()
    conn = _redis()
    conn.hincrby(f"tb-test:ran:{batch}", ctx.job_id, 1)
    conn.hset(f"tb-test:ran-on:{batch}", ctx.job_id, ctx.backend)


@task(queue="default")
def periodic_mark(token: str) -> str:
    """A periodic entry's task: each run appends ``<job id>|<backend>`` to a per-token list."""
    ctx = context.current()
    _redis().rpush(f"tb-test:periodic:{token}", f"{ctx.job_id if ctx else 'inline'}|{ctx.backend if ctx else 'inline'}")
    return token


@task(queue="default", timeout=2)
def stubborn(token: str) -> str:
    """Swallows its timeout exception (any exception) and carries on: only a hard stop ends it."""
    conn = _redis()
    _note("stubborn", token)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except Exception:  # noqa: BLE001 - SoftTimeLimitExceeded / JobTimeoutException, on purpose
            conn.set(f"tb-test:ignored-timeout:{token}", 1)
    conn.set(f"tb-test:finished:{token}", 1)
    return "finished"


# ---------------------------------------------------------------------------
# The backlog move (tests/test_move.py): queue "backlog", consumed only by that test's workers.


@task(queue="backlog", routing_key="item")
def backlog_job(token: str, item: int, not_before: float = 0.0, retry_in: float = 0.0) -> int:
    """One run record per run (job id, backend, attempt, when); with ``retry_in``, the first
    attempt asks for a retry that far ahead."""
    import json

    ctx = context.current()
    now = time.time()
    conn = _redis()
    conn.hincrby(f"tb-test:backlog-runs:{token}", ctx.job_id, 1)
    conn.rpush(f"tb-test:backlog-log:{token}", json.dumps(
        {"job_id": ctx.job_id, "item": item, "backend": ctx.backend, "attempt": ctx.attempt, "at": now, "not_before": not_before}
    ))
    if retry_in and ctx.attempt == 1:
        conn.zadd(f"tb-test:backlog-retry-due:{token}", {ctx.job_id: now + retry_in})
        context.retry(countdown=retry_in, max_retries=3)
    return item


@task(queue="default")
def count_users(pause: float = 0.0) -> int:
    """Reads the database, so a worker started with a wrong DATABASE_URL fails it (the guard tests)."""
    from django.contrib.auth import get_user_model

    if pause:
        time.sleep(pause)
    return get_user_model().objects.count()


# ---------------------------------------------------------------------------
# Queue "isolated": consumed only by workers a test starts and kills itself (tests/test_custody_workers.py).


@task(queue="isolated")
def isolated_mark(token: str) -> str:
    """:func:`mark` on the isolated queue."""
    return mark(token)


@task(queue="isolated")
def isolated_gate(token: str, limit: float = 30) -> str:
    """:func:`gate` on the isolated queue."""
    return gate(token, limit)


@task(queue="isolated")
def isolated_count_users() -> int:
    """:func:`count_users` on the isolated queue (the guard test's own workers, one of them broken)."""
    return count_users()
