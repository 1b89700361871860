"""Declaring a task once: a plain function plus its queue and options."""

from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

from . import conf, dispatch, registry
from .errors import ArgumentError
from .retry import NO_RETRY, RetryPolicy


#: The furthest ahead a job may be scheduled: past it a delay is a mistake, not a plan.
MAX_DELAY = dt.timedelta(days=366)


@functools.lru_cache(maxsize=None)
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


@dataclass(frozen=True, slots=True)
class Task:
    """A declared task. Calling it runs the function inline; ``enqueue`` dispatches it.

    Per-call options (``countdown``, ``eta``, ``job_id``) come from :meth:`using`,
    which returns a modified copy, so ``enqueue`` takes exactly the function's
    own arguments.
    """

    func: Callable[..., Any]
    name: str
    queue: str
    timeout: int | None = None
    retry: RetryPolicy = NO_RETRY
    result_ttl: int | None = None
    routing_key: str | None = None
    on_give_up: Callable[..., Any] | None = None
    rerun_if_worker_lost: bool = False
    countdown: float | None = None
    eta: dt.datetime | None = None
    job_id: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def using(self, *, countdown: float | None = None, eta: dt.datetime | None = None, job_id: str | None = None) -> Task:
        """A copy of this task with per-call options; bad options raise :class:`ArgumentError`."""
        if countdown is not None and eta is not None:
            raise ArgumentError(self.name, "countdown/eta", "are both given; give one")
        if countdown is not None:
            if isinstance(countdown, bool) or not isinstance(countdown, (int, float)) or not math.isfinite(countdown):
                raise ArgumentError(self.name, "countdown", f"must be a finite number of seconds, got {countdown!r}")
            if not 0 <= countdown <= MAX_DELAY.total_seconds():
                raise ArgumentError(self.name, "countdown", f"must be between 0 and {MAX_DELAY.days} days in seconds, got {countdown!r}")
        if eta is not None:
            if not isinstance(eta, dt.datetime) or eta.tzinfo is None:
                raise ArgumentError(self.name, "eta", f"must be a timezone-aware datetime, got {eta!r}")
            if eta - dt.datetime.now(dt.timezone.utc) > MAX_DELAY:
                raise ArgumentError(self.name, "eta", f"is more than {MAX_DELAY.days} days ahead: {eta.isoformat()}")
        if job_id is not None and (not isinstance(job_id, str) or not job_id or ":" in job_id or len(job_id) > 200 or "\x00" in job_id):
            raise ArgumentError(self.name, "job_id", f"must be a non-empty string without ':' of at most 200 characters, got {job_id!r}")
        return dataclasses.replace(self, countdown=countdown, eta=eta, job_id=job_id)

    def enqueue(self, *args: Any, **kwargs: Any):
        """Dispatch now; returns a :class:`~taskbridge.handle.TaskHandle`."""
        return dispatch.enqueue(self, args, kwargs)

    def enqueue_on_commit(self, *args: Any, **kwargs: Any):
        """Dispatch when the current transaction commits (now, outside one); nothing on rollback."""
        return dispatch.enqueue(self, args, kwargs, on_commit=True)

    @property
    def effective_timeout(self) -> int:
        return self.timeout or conf.queue(self.queue).timeout

    @property
    def effective_result_ttl(self) -> int:
        return self.result_ttl if self.result_ttl is not None else conf.option("RESULT_TTL")

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        return _signature(self.func).bind(*args, **kwargs)


def task(
    func: Callable[..., Any] | None = None,
    *,
    queue: str = "default",
    timeout: int | None = None,
    retry: RetryPolicy | None = None,
    result_ttl: int | None = None,
    routing_key: str | None = None,
    on_give_up: Callable[..., Any] | None = None,
    rerun_if_worker_lost: bool = False,
) -> Any:
    """Declare a task: ``@task(queue="podcast", timeout=600)`` over a plain function.

    ``routing_key`` names the argument whose value buckets a percentage route
    (so one entity stays on one backend); by default the job id is used.
    ``on_give_up`` is called with the task's own arguments when retries run out.
    ``rerun_if_worker_lost`` (for idempotent tasks only): a run whose worker died is run
    again, once, instead of failing with ``worker_lost`` (docs/parity.md).
    """

    def declare(function: Callable[..., Any]) -> Task:
        name = f"{function.__module__}.{function.__qualname__}"
        conf.queue(queue)
        if routing_key is not None and routing_key not in inspect.signature(function).parameters:
            raise TypeError(f"{name}: routing_key {routing_key!r} is not a parameter of the function")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"{name}: timeout must be a positive number of seconds")
        declared = Task(
            func=function,
            name=name,
            queue=queue,
            timeout=timeout,
            retry=retry or NO_RETRY,
            result_ttl=result_ttl,
            routing_key=routing_key,
            on_give_up=on_give_up,
            rerun_if_worker_lost=rerun_if_worker_lost,
        )
        registry.add(declared)
        return declared

    return declare(func) if func is not None else declare


def get_task(name: str) -> Task | None:
    """A declared task by dotted name (see :func:`taskbridge.registry.get`)."""
    return registry.get(name)
