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
