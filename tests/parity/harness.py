"""Running one scenario on both backends and comparing what happened.

A scenario is a function ``(backend, token) -> {label: handle or event list}``.
:meth:`Parity.run` flips the queue's flag the way admin does, calls it once
routed to Celery and once routed to RQ (each with its own token, so their side
effects never mix), then checks, for every label, that each job has exactly
one terminal event and that the two normalised event sequences are equal.
The scenario itself asserts the real outcome (side effects, result, status).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from typing import Any, Callable

import redis

from taskbridge import TaskHandle
from taskbridge.backends import get_backend
from taskbridge.events import TERMINAL_EVENTS
from taskbridge.states import FINISHED
from tests.conftest import set_route
from tests.support.events import EventLog, normalise

# everyone = False routes a queue to Celery, True to RQ (the waffle Flag's own field).
BACKENDS = {"celery": False, "rq": True}
OTHER = {"celery": "rq", "rq": "celery"}

Scenario = Callable[[str, str], dict[str, Any]]


def wait_until(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Parity:
    def __init__(self, event_log: EventLog, conn: redis.Redis, workers: dict) -> None:
        self.log = event_log
        self.redis = conn
        self.workers = workers

    # -- side effects ------------------------------------------------------
    def runs(self, token: str) -> list[dict[str, Any]]:
        """The run records a test task left (tests.taskapp.tasks._note), oldest first."""
        return [json.loads(raw) for raw in self.redis.lrange(f"tb-test:runs:{token}", 0, -1)]

    def count(self, token: str) -> int:
        return int(self.redis.get(f"tb-test:count:{token}") or 0)

    def release(self, token: str) -> None:
        self.redis.set(f"tb-test:release:{token}", 1)

    # -- events --------------------------------------------------------------
    def settled(self, handle: TaskHandle, timeout: float = 30) -> list[dict[str, Any]]:
        """The job's events once it has ended and its worker is done with it."""
        self.log.wait_for_terminal(handle.job_id, timeout)
        wait_until(lambda: handle.status() in FINISHED, timeout, what=f"{handle} to end")
        # Give the backend a moment to record the end too (its own view may keep a stale
        # state, e.g. Celery's RETRY for a job cancelled between attempts: docs/parity.md).
        backend = get_backend(handle.backend)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: backend.status(handle.job_id, handle.queue) in FINISHED, 3)
        time.sleep(0.3)  # anything a worker would still write about it
        return self.log.for_job(handle.job_id)

    def sentinel(self, token: str) -> None:
        """Dispatch a job after the ones under test and wait for it: the worker has moved past them."""
        from tests.taskapp import tasks

        tasks.mark.enqueue(f"{token}-sentinel").result(timeout=30)

    # -- the matrix ------------------------------------------------------------
    def run(self, scenario: Scenario, queues: tuple[str, ...] = ("default",)) -> dict[str, dict[str, Any]]:
        outcome: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for backend, everyone in BACKENDS.items():
            for queue in queues:
                set_route(queue, everyone=everyone)
            token = f"{scenario.__name__}-{backend}-{uuid.uuid4().hex[:8]}"
            began = time.monotonic()
            found = scenario(backend, token)
            outcome[backend] = {
                label: self.settled(value) if isinstance(value, TaskHandle) else value for label, value in found.items()
            }
            for label, events in outcome[backend].items():
                terminal = [e["event"] for e in events if e["event"] in TERMINAL_EVENTS]
                assert len(terminal) == (1 if events else 0), f"{backend}/{label}: terminal events {terminal}"
            for name, worker in self.workers.items():
                assert worker.alive(), f"the {name} worker died during {scenario.__name__} on {backend}"
            report(scenario.__name__, backend, outcome[backend], time.monotonic() - began)
        assert outcome["celery"].keys() == outcome["rq"].keys()
        for label in outcome["celery"]:
            celery, rq = normalise(outcome["celery"][label]), normalise(outcome["rq"][label])
            assert celery == rq, f"{label}: event sequences differ\ncelery: {celery}\nrq:     {rq}"
        return outcome


def report(scenario: str, backend: str, outcome: dict[str, list[dict[str, Any]]], seconds: float) -> None:
    """With ``PARITY_REPORT=<file>``, append what each run produced (the source of docs/parity.md)."""
    target = os.environ.get("PARITY_REPORT")
    if not target:
        return
    keep = ("event", "attempt", "error_type", "phase", "countdown", "reason")
    summary = {label: [{k: e[k] for k in keep if k in e} for e in sorted(events, key=lambda e: e["timestamp"])]
               for label, events in outcome.items()}
    with open(target, "a") as out:
        out.write(json.dumps({"scenario": scenario, "backend": backend, "seconds": round(seconds, 1), "jobs": summary}) + "\n")


def sequence(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in sorted(events, key=lambda e: e["timestamp"])]


def pid_of_first_run(parity: Parity, token: str, timeout: float = 20) -> int:
    return wait_until(lambda: parity.runs(token) and parity.runs(token)[0]["pid"], timeout, what=f"{token} to start")


def is_alive(pid: int) -> bool:
    return not process_gone(pid) and os.path.exists(f"/proc/{pid}")
