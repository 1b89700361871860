"""Every public taskbridge exception, under one base class. A leaf module: it imports nothing
from taskbridge, so any module can raise these."""

from __future__ import annotations

from typing import Any


class TaskbridgeError(Exception):
    """Base class of every exception taskbridge raises on purpose."""


class ArgumentError(TaskbridgeError, TypeError, ValueError):
    """An argument (or per-call option) a task cannot carry on every backend; nothing was enqueued."""

    def __init__(self, task_name: str, path: str, problem: str) -> None:
        self.task_name = task_name
        self.path = path
        self.problem = problem
        super().__init__(f"{task_name}: argument {path} {problem}")


class EnqueueError(TaskbridgeError, RuntimeError):
    """The backend could not take the job; nothing is left queued or recorded."""


class BackendNotConfigured(TaskbridgeError, LookupError):
    """A backend alias that is not in ``TASKBRIDGE["BACKENDS"]``."""


class TaskFailed(TaskbridgeError):
    """The job a handle names ended in failure."""

    def __init__(self, handle: Any, error_type: str | None, error: str | None) -> None:
        self.handle, self.error_type, self.error = handle, error_type, error
        super().__init__(f"job {handle} failed: {error_type}: {error}")


class TaskCancelled(TaskbridgeError):
    """The job a handle names was cancelled."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        super().__init__(f"job {handle} was cancelled")


class ResultTimeout(TaskbridgeError, TimeoutError):
    """The job had not ended when ``TaskHandle.result(timeout=…)`` gave up waiting."""


class MaxRetriesExceeded(TaskbridgeError):
    """The task asked for a retry (or raised a retryable error) with no retries left."""


class NotInTask(TaskbridgeError, RuntimeError):
    """A task-context function was called outside a task running on a worker."""


class RouteError(TaskbridgeError, ValueError):
    """A route change that cannot be made as asked (unknown queue, bad share, refused by the interlock)."""


class CompareError(TaskbridgeError):
    """A problem with ``compare``'s input or arguments (not with the backends)."""


class MissingRoles(TaskbridgeError, ValueError):
    """``compare`` was given no backend name for a role, and no Django settings to take it from."""


class MoveError(TaskbridgeError, ValueError):
    """A backlog move was asked for something that cannot be moved (an unknown queue, backend,
    task or policy), or a moved job could be sent neither to its new backend nor back."""


class InterlockRefused(RouteError):
    """A route change would send dispatches to a backend with no live worker on the queue.

    ``findings`` names each such backend; the change can still be forced with a reason."""

    def __init__(self, findings: list[str]) -> None:
        self.findings = findings
        super().__init__("; ".join(findings) + " (force it with a reason to override)")
