"""The declared tasks of this process, by dotted name.

Declaring a task adds it here and nothing else; a backend that must know every
task (Celery registers each one with its app) subscribes, so ``@task`` never
imports a backend. Workers resolve the name in a message here, so they run
only declared tasks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .declaration import Task

_tasks: dict[str, Task] = {}
_subscribers: list[Callable[[Task], None]] = []


def add(task: Task) -> None:
    _tasks[task.name] = task
    for subscriber in _subscribers:
        subscriber(task)


def subscribe(callback: Callable[[Task], None]) -> None:
    """Call ``callback`` with every task declared so far and every task declared later."""
    if callback in _subscribers:
        return
    _subscribers.append(callback)
    for task in list(_tasks.values()):
        callback(task)


def get(name: str) -> Task | None:
    """A declared task by dotted name; ``None`` for anything that is not one, so a name
    read from a message is never called unless it was declared with ``@task``.

    Tasks live in an app's ``tasks`` module (workers import those at start); such a
    module not yet imported in this process is imported, and no other module is.
    """
    if name not in _tasks and isinstance(name, str):
        module = name.rpartition(".")[0]
        if not (module == "tasks" or module.endswith(".tasks")):
            return None
        try:
            importlib.import_module(module)
        except ImportError:
            return None
    return _tasks.get(name)


def all_tasks() -> dict[str, Task]:
    return dict(_tasks)
