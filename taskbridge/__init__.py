"""taskbridge: declare a task once, run it on either of two backends (the baseline and the
candidate), routed per queue by a waffle flag.

Public API::

    from taskbridge import task, RetryPolicy, TaskHandle, context, set_route

The submodules are imported lazily so that settings modules can import
``taskbridge.queues`` and a backend's ``config`` before Django is configured.
"""

from typing import Any

__all__ = [
    "task", "Task", "RetryPolicy", "TaskHandle", "TaskStatus", "context", "set_route",
    "TaskbridgeError", "TaskFailed", "TaskCancelled", "ResultTimeout", "ArgumentError", "EnqueueError",
    "MaxRetriesExceeded", "NotInTask", "RouteError", "BackendNotConfigured",
]

_EXPORTS = {
    "task": "taskbridge.declaration",
    "Task": "taskbridge.declaration",
    "RetryPolicy": "taskbridge.retry",
    "TaskHandle": "taskbridge.handle",
    "TaskStatus": "taskbridge.states",
    "set_route": "taskbridge.flags",
    **{name: "taskbridge.errors" for name in (
        "TaskbridgeError", "TaskFailed", "TaskCancelled", "ResultTimeout", "ArgumentError", "EnqueueError",
        "MaxRetriesExceeded", "NotInTask", "RouteError", "BackendNotConfigured",
    )},
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "context":
        return importlib.import_module("taskbridge.context")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'taskbridge' has no attribute {name!r}")
