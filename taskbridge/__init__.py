"""taskbridge: declare a task once, run it on Celery or RQ, routed per queue by a waffle flag.

Public API::

    from taskbridge import task, RetryPolicy, TaskHandle, context

The submodules are imported lazily so that ``taskbridge.queues`` can be used
from a settings module before Django is configured.
"""

from typing import Any

__all__ = [
    "task", "Task", "RetryPolicy", "TaskHandle", "TaskStatus", "TaskFailed", "TaskCancelled",
    "ArgumentError", "EnqueueError", "MaxRetriesExceeded", "context",
]

_EXPORTS = {
    "task": "taskbridge.declaration",
    "Task": "taskbridge.declaration",
    "RetryPolicy": "taskbridge.retry",
    "MaxRetriesExceeded": "taskbridge.retry",
    "TaskHandle": "taskbridge.handle",
    "TaskFailed": "taskbridge.handle",
    "TaskCancelled": "taskbridge.handle",
    "TaskStatus": "taskbridge.states",
    "ArgumentError": "taskbridge.arguments",
    "EnqueueError": "taskbridge.dispatch",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "context":
        return importlib.import_module("taskbridge.context")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'taskbridge' has no attribute {name!r}")
