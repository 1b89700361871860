"""Running a task on a worker: the one code path both backends call.

Celery's task body and RQ's job class both hand the job to :func:`run`, so
events, retries, time limits, cancellation and results behave the same on
either backend; the backends differ only in the small :class:`RunningJob`
adapters in ``taskbridge.backends``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NoReturn

from . import arguments, correlation, events
from .context import TaskContext, _current
from .ledger import ledger
from .message import RunningJob
from .retry import NO_RETRY, MaxRetriesExceeded, RetryRequested
from .states import TaskStatus
from .declaration import Task

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
    ctx = TaskContext(task.name, job.job_id, job.backend, job.queue, job.attempt, job.correlation_id)
    if ledger().begin(job.job_id, job.attempt, job.backend, job.queue, task.name) == TaskStatus.CANCELLED:
        logger.info("job %s was cancelled before it started; not running it", job.job_id)
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
    except job.timeout_errors as exc:
        _fail(task, ctx, "timeout", f"exceeded its time limit of {task.effective_timeout}s ({type(exc).__name__})", started)
        raise
    except Exception as exc:
        if task.retry is not NO_RETRY and isinstance(exc, task.retry.on):
            request = RetryRequested(task.retry.countdown_for(ctx.attempt), task.retry.max_retries, exc)
            _retry_or_give_up(task, args, kwargs, job, ctx, request, started, raised=exc)
        _fail(task, ctx, type(exc).__name__, str(exc), started)
        raise
    finally:
        correlation.reset(correlation_token)
        _current.reset(context_token)
    if ledger().succeed(job.job_id, result, task.effective_result_ttl) == TaskStatus.CANCELLED:
        return result
    events.emit(events.SUCCEEDED, **_fields(ctx), duration_ms=_ms(time.time() - started))
    return result


def _fail(task: Task, ctx: TaskContext, error_type: str, error: str, started: float | None) -> None:
    if ledger().fail(ctx.job_id, error_type, error, task.effective_result_ttl) == TaskStatus.CANCELLED:
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
) -> NoReturn:
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
    ledger().set_state(ctx.job_id, TaskStatus.RETRYING, attempt=ctx.attempt)
    events.emit(
        events.RETRYING, **_fields(ctx), countdown=request.countdown, duration_ms=_ms(time.time() - started),
        error_type=type(cause).__name__ if cause else None, error=str(cause) if cause else None,
    )
    job.schedule_retry(request.countdown)


def unknown_task(backend: str, queue: str, job_id: str, name: str, attempt: int = 1) -> None:
    """Record a message naming a task this worker cannot import: failed, visibly, on both backends."""
    error = f"no task named {name!r} is declared in this project"
    ledger().fail(job_id, "unknown_task", error, 86400)
    events.emit(
        events.FAILED, backend=backend, queue=queue, task=name, job_id=job_id, attempt=attempt,
        error_type="unknown_task", error=error,
    )
