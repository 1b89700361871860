"""Running a task on a worker: the one code path both backends call.

Celery's task body and RQ's job class both hand the job to :func:`run`, so
events, retries, time limits, cancellation and results behave the same on
either backend; the backends differ only in the small :class:`RunningJob`
adapters in ``taskbridge.backends``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from . import arguments, conf, correlation, events
from .context import TaskContext, _current
from .custody import job_lost, timeout_message
from .errors import MaxRetriesExceeded
from .ledger import MOVED, Lease, ledger
from .message import RunningJob
from .retry import NO_RETRY, RetryRequested
from .states import FINISHED, TaskStatus

if TYPE_CHECKING:
    from .declaration import Task

logger = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 3


def run(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], job: RunningJob) -> Any:
    """Run one attempt of a job, holding its lease (taken in the step that marks the job
    started, renewed by this process's :mod:`~taskbridge.watchdog`) and, in a worker's job
    process, under its hard time limit.

    The hard limit is the last resort for a task that swallows its timeout exception: its
    process is killed once ``timeout + HARD_TIMEOUT_GRACE`` (+1 s, so Celery's own hard
    limit, the same figure, normally comes first) has passed, and the worker records the
    job as failed with ``timeout`` (:func:`taskbridge.custody.job_lost`). RQ's own last
    resort comes only 60 s after the timeout; this makes both backends stop such a task
    at the same time."""
    kill_after = task.effective_timeout + conf.option("HARD_TIMEOUT_GRACE") + 1 if job.kill_past_hard_limit else None
    with ledger().lease(job.job_id) as lease:
        return _run(task, args, kwargs, job, lease, kill_after)


def _run(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], job: RunningJob, lease: Lease, kill_after: float | None) -> Any:
    ctx = TaskContext(task.name, job.job_id, job.backend, job.queue, job.attempt, job.correlation_id)
    before = ledger().begin(
        job.job_id, job.attempt, job.backend, job.queue, task.name, task.effective_timeout, lease,
        task.rerun_if_worker_lost, job.generation,
    )
    if before == MOVED:
        events.emit(events.SKIPPED, ctx.subject, reason="moved to another backend")
        return None
    if before in FINISHED or before == "held":
        logger.info("job %s is already %s; not running this delivery of it", job.job_id, before)
        return None
    if before == "lost":
        job_lost(job.job_id, "delivered again after the run holding it died", lease_gone=True)
        return None
    lease.hold(kill_after)
    started = time.time()
    events.emit(events.STARTED, ctx.subject, wait_ms=events.ms(max(0.0, started - job.due_at)))
    context_token = _current.set(ctx)
    correlation_token = correlation.set(ctx.correlation_id)
    try:
        result = task.func(*args, **kwargs)
        arguments.validate_result(task.name, result)
    except RetryRequested as request:
        _retry_or_give_up(task, args, kwargs, job, ctx, lease, request, started)
        return None  # cancelled meanwhile: no retry
    except job.timeout_errors:
        _fail(task, ctx, lease, "timeout", timeout_message(task.effective_timeout), started)
        raise
    except Exception as exc:
        if task.retry is not NO_RETRY and isinstance(exc, task.retry.on):
            request = RetryRequested(task.retry.countdown_for(ctx.attempt), task.retry.max_retries, exc)
            _retry_or_give_up(task, args, kwargs, job, ctx, lease, request, started, raised=exc)
            return None  # cancelled meanwhile: no retry
        _fail(task, ctx, lease, type(exc).__name__, str(exc), started)
        raise
    finally:
        correlation.reset(correlation_token)
        _current.reset(context_token)
    if ledger().succeed(job.job_id, result, task.effective_result_ttl, lease) != TaskStatus.SUCCEEDED:
        return result  # cancelled (or failed as lost) while it ran: that stays its one ending
    events.emit(events.SUCCEEDED, ctx.subject, duration_ms=events.ms(time.time() - started))
    return result


def _fail(task: Task, ctx: TaskContext, lease: Lease, error_type: str, error: str, started: float | None) -> None:
    if ledger().fail(ctx.job_id, error_type, error, task.effective_result_ttl, lease) != TaskStatus.FAILED:
        return
    duration = events.ms(time.time() - started) if started is not None else None
    events.emit(events.FAILED, ctx.subject, duration_ms=duration, error_type=error_type, error=error)


def _retry_or_give_up(
    task: Task,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    job: RunningJob,
    ctx: TaskContext,
    lease: Lease,
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
        _fail(task, ctx, lease, "max_retries_exceeded", str(error), started)
        raise error from cause
    if ledger().set_state(ctx.job_id, TaskStatus.RETRYING, lease, attempt=ctx.attempt) != TaskStatus.RETRYING:
        return
    events.emit(
        events.RETRYING, ctx.subject, countdown=request.countdown, duration_ms=events.ms(time.time() - started),
        error_type=type(cause).__name__ if cause else None, error=str(cause) if cause else None,
    )
    job.schedule_retry(request.countdown)
