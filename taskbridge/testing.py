"""Helpers for tests and demos of a project that uses taskbridge, as waffle's
``testutils`` and ``structlog.testing`` are for theirs::

    from taskbridge.testing import override_route, wait_for, wait_for_workers

    with override_route("podcast", "candidate"):
        handle = generate_podcast.enqueue(job.id)
        assert wait_for(handle) == TaskStatus.SUCCEEDED
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from . import conf
from .backends import get_backend
from .flags import Flag, set_route
from .handle import TaskHandle
from .routing import FlagState
from .states import ACTIVE, TaskStatus


@contextmanager
def override_route(queue: str, target: str | float | int | None, *, task: str | None = None) -> Iterator[None]:
    """Route ``queue`` (or one ``task``) to ``target`` (``"baseline"``, ``"candidate"``, a
    backend alias or a percentage) inside the block, through :func:`set_route`, and put
    the route back afterwards."""
    name = conf.task_flag_name(task) if task else conf.queue_flag_name(queue)
    before = Flag.objects.filter(name=name).values_list("name", "everyone", "percent").first()
    set_route(queue, target, task=task, reason="taskbridge.testing.override_route")
    try:
        yield
    finally:
        share = FlagState(*before).share if before else None
        set_route(queue, share, task=task, reason="taskbridge.testing.override_route (restored)")


def settle() -> None:
    """Wait until every other process routes by the flags as they are now (each re-reads
    them within ``FLAG_CACHE_SECONDS``)."""
    time.sleep(conf.option("FLAG_CACHE_SECONDS") + 0.2)


def wait_for(handle: TaskHandle | str, *states: TaskStatus, timeout: float = 30, poll: float = 0.05) -> TaskStatus:
    """Wait until the job is in one of ``states`` (default: any ending) and return its state;
    raises ``TimeoutError`` naming the state it was stuck in."""
    if isinstance(handle, str):
        handle = TaskHandle.from_string(handle)
    wanted = set(states) or {state for state in TaskStatus if state not in ACTIVE and state != TaskStatus.UNKNOWN}
    deadline = time.monotonic() + timeout
    while True:
        state = handle.status()
        if state in wanted:
            return state
        if time.monotonic() >= deadline:
            raise TimeoutError(f"job {handle} is {state.value} after {timeout}s, not {sorted(s.value for s in wanted)}")
        time.sleep(poll)


def wait_for_workers(backend: str, queue: str, timeout: float = 30, poll: float = 0.2) -> list[str]:
    """Wait until ``backend`` (an alias) has a live worker consuming ``queue``; returns their labels."""
    deadline = time.monotonic() + timeout
    while True:
        found = get_backend(backend).workers().get(queue, [])
        if found:
            return [worker.label for worker in found]
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no live {backend} worker consumes queue {queue!r} after {timeout}s")
        time.sleep(poll)
