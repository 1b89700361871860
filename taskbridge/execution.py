"""Running a task on a worker: the one code path both backends call.

Celery's task body and RQ's job class both hand the job to :func:`run`, so
events, retries, time limits, cancellation and results behave the same on
either backend; the backends differ only in the small :class:`RunningJob`
adapters in ``taskbridge.backends``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from . import arguments, conf, correlation, events
from .context import TaskContext, _current
from .ledger import ledger
from .message import RunningJob
from .retry import NO_RETRY, MaxRetriesExceeded, RetryRequested
from .states import FINISHED, TaskStatus
from .declaration import Task, get_task

logger = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 3


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _fields(ctx: TaskContext) -> dict[str, Any]:
    return {
        "backend": ctx.backend, "queue": ctx.queue, "task": ctx.task_name, "job_id": ctx.job_id,
        "attempt": ctx.attempt, "correlation_id": ctx.correlation_id,
    }


def run(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], job: RunningJob) -> Any:
    """Run one attempt of a job, holding its lease (taken before the job is marked started)
    and under its hard time limit."""
    with ledger().lease(job.job_id, job.attempt), _hard_limit(task.effective_timeout):
        return _run(task, args, kwargs, job)


@contextmanager
def _hard_limit(timeout: int) -> Iterator[None]:
    """The last resort for a task that swallows its timeout exception: its process is killed
    once ``timeout + HARD_TIMEOUT_GRACE`` (+1 s, so Celery's own hard limit, the same
    figure, normally comes first) has passed, and the worker records the job as
    failed with ``timeout`` (:func:`job_lost`). RQ's own last resort comes only 60 s
    after the timeout; this makes both backends stop such a task at the same time."""
    timer = threading.Timer(timeout + conf.option("HARD_TIMEOUT_GRACE") + 1, os.kill, (os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _run(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], job: RunningJob) -> Any:
    ctx = TaskContext(task.name, job.job_id, job.backend, job.queue, job.attempt, job.correlation_id)
    before = ledger().begin(job.job_id, job.attempt, job.backend, job.queue, task.name, task.effective_timeout)
    if before in FINISHED:
        logger.info("job %s is already %s; not running it", job.job_id, before)
        return None
    started = time.time()
    events.emit(events.STARTED, **_fields(ctx), wait_ms=_ms(max(0.0, started - job.due_at)))
    context_token = _current.set(ctx)
    correlation_token = correlation.set(ctx.correlation_id)
    try:
        result = task.func(*args, **kwargs)
        arguments.validate_result(task.name, result)
    except RetryRequested as request:
        _retry_or_give_up(task, args, kwargs, job, ctx, request, started)
        return None  # cancelled meanwhile: no retry
    except job.timeout_errors:
        _fail(task, ctx, "timeout", timeout_message(task.effective_timeout), started)
        raise
    except Exception as exc:
        if task.retry is not NO_RETRY and isinstance(exc, task.retry.on):
            request = RetryRequested(task.retry.countdown_for(ctx.attempt), task.retry.max_retries, exc)
            _retry_or_give_up(task, args, kwargs, job, ctx, request, started, raised=exc)
            return None  # cancelled meanwhile: no retry
        _fail(task, ctx, type(exc).__name__, str(exc), started)
        raise
    finally:
        correlation.reset(correlation_token)
        _current.reset(context_token)
    if ledger().succeed(job.job_id, result, task.effective_result_ttl) != TaskStatus.SUCCEEDED:
        return result  # cancelled (or failed as lost) while it ran: that stays its one ending
    events.emit(events.SUCCEEDED, **_fields(ctx), duration_ms=_ms(time.time() - started))
    return result


def _fail(task: Task, ctx: TaskContext, error_type: str, error: str, started: float | None) -> None:
    if ledger().fail(ctx.job_id, error_type, error, task.effective_result_ttl) != TaskStatus.FAILED:
        return
    duration = _ms(time.time() - started) if started is not None else None
    events.emit(events.FAILED, **_fields(ctx), duration_ms=duration, error_type=error_type, error=error)


def _retry_or_give_up(
    task: Task,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    job: RunningJob,
    ctx: TaskContext,
    request: RetryRequested,
    started: float,
    raised: BaseException | None = None,
) -> None:
    """Raise what ends this run in a retry on the job's own backend, or give up (run the
    hook, fail the job, raise). Returns only when the job was cancelled meanwhile."""
    if request.max_retries is not None:
        max_retries = request.max_retries
    elif task.retry is not NO_RETRY:
        max_retries = task.retry.max_retries
    else:
        max_retries = DEFAULT_MAX_RETRIES
    cause = request.reason or raised
    if ctx.attempt > max_retries:
        error = MaxRetriesExceeded(f"{task.name} gave up after {ctx.attempt - 1} retries" + (f": {cause!r}" if cause else ""))
        if task.on_give_up is not None:
            token = _current.set(ctx)
            try:
                task.on_give_up(*args, **kwargs)
            except Exception:
                logger.exception("give-up hook of %s failed for job %s", task.name, ctx.job_id)
            finally:
                _current.reset(token)
        _fail(task, ctx, "max_retries_exceeded", str(error), started)
        raise error from cause
    if ledger().set_state(ctx.job_id, TaskStatus.RETRYING, attempt=ctx.attempt) != TaskStatus.RETRYING:
        return
    events.emit(
        events.RETRYING, **_fields(ctx), countdown=request.countdown, duration_ms=_ms(time.time() - started),
        error_type=type(cause).__name__ if cause else None, error=str(cause) if cause else None,
    )
    job.schedule_retry(request.countdown)


def timeout_message(seconds: int) -> str:
    return f"exceeded its time limit of {seconds}s"


def unknown_task(backend: str, queue: str, job_id: str, name: str, correlation_id: str | None, attempt: int = 1) -> None:
    """Record a message naming a task this worker cannot import: failed, visibly, on both backends."""
    error = f"no task named {name!r} is declared in this project"
    if ledger().fail(job_id, "unknown_task", error, conf.option("RESULT_TTL")) != TaskStatus.FAILED:
        return
    events.emit(
        events.FAILED, backend=backend, queue=queue, task=name, job_id=job_id, attempt=attempt,
        correlation_id=correlation_id or job_id, error_type="unknown_task", error=error,
    )


def lease_ran_out(job_id: str) -> bool:
    """A started job's lease has run out: its whole worker died. Fail it (once)."""
    return job_lost(job_id, "its worker stopped renewing the job's lease", lease_gone=True)


def job_lost(job_id: str, how: str, lease_gone: bool = False) -> bool:
    """The process running a job died (``how``: e.g. ``killed by signal 9 (SIGKILL)``).

    Called by whichever process notices: the Celery worker's main process or
    the RQ worker that forked the work horse (at once), or, when the whole
    worker died, any process that asks the job's status after its lease ran
    out (``lease_gone``). The job is failed once, with ``error_type``
    ``timeout`` when a worker stopped it past its time limit and
    ``worker_lost`` otherwise; a job that was cancelled (which also stops its
    process) or has already ended is left alone. Not retried: see docs/parity.md.
    """
    record = ledger().get(job_id)
    if record is None or record.state != TaskStatus.STARTED:
        return False
    ran = time.time() - record.started if record.started and not lease_gone else None
    if record.timeout and ran is not None and ran >= record.timeout:
        error_type, error = "timeout", timeout_message(record.timeout)
    else:
        error_type, error = "worker_lost", f"the process running the job died ({how})"
    declared = get_task(record.task) if record.task else None
    ttl = declared.effective_result_ttl if declared else conf.option("RESULT_TTL")
    if not ledger().lose(job_id, record.attempt, error_type, error, ttl, lease_gone):
        return False
    events.emit(
        events.FAILED, backend=record.backend, queue=record.queue, task=record.task, job_id=job_id,
        attempt=record.attempt, correlation_id=record.correlation_id or job_id,
        duration_ms=_ms(ran) if ran is not None else None, error_type=error_type, error=error,
    )
    return True


def describe_exit(signal_number: int | None = None, exit_code: int | None = None) -> str:
    """How a process ended, worded the same for both backends."""
    if signal_number:
        try:
            return f"killed by signal {signal_number} ({signal.Signals(signal_number).name})"
        except ValueError:
            return f"killed by signal {signal_number}"
    return f"exited with code {exit_code}" if exit_code is not None else "exited"
