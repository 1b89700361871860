"""RQ's worker formation during the demo: stopped, replaced by a broken one, started again.

The processes belong to the supervisor (:mod:`.supervise`); this asks it through
:mod:`.control` and then waits until RQ's own worker registry agrees, so a
stage starts with the workers it says it has.
"""

from __future__ import annotations

import time
from pathlib import Path

from .control import Requests

BROKEN = "rq_worker.broken"


class Formation:
    def __init__(self, control: Path, rq_names: list[str], temp: Path) -> None:
        self.requests = Requests(control)
        self.rq_names = rq_names  # RQ worker names; their processes are rq_worker.1, rq_worker.2, ...
        self.broken_name = f"{rq_names[0].rsplit('-', 1)[0]}-rq-broken" if rq_names else "rq-broken"
        # A database of the right kind at the wrong place: it opens, and has none of the project's tables.
        self.wrong_database = f"sqlite:///{temp / 'wrong-database.sqlite3'}"

    def apply(self, change: str | None, queue: str | None) -> str:
        """Make the change a stage asks for; returns what was done, for the stage's heading."""
        if change is None:
            return ""
        if change == "stop":
            self.stop_healthy()
            return f"RQ's {len(self.rq_names)} workers stopped"
        if change == "broken":
            self.start_broken(queue or "")
            return f"started {self.broken_name} on {queue} with DATABASE_URL={self.wrong_database}"
        if change == "restart":
            self.requests.ask("stop", names=[BROKEN])
            self.start_healthy()
            return f"{self.broken_name} stopped; RQ's {len(self.rq_names)} workers started again"
        raise ValueError(f"unknown worker change {change!r}")

    def stop_healthy(self) -> None:
        self.requests.ask("stop", names=[f"rq_worker.{i}" for i in range(1, len(self.rq_names) + 1)])
        self._wait(lambda live: not set(self.rq_names) & live, "RQ's workers to leave its registry")

    def start_healthy(self) -> None:
        for i, name in enumerate(self.rq_names, 1):
            self.requests.ask("start", name=f"rq_worker.{i}", worker=name)
        self._wait(lambda live: set(self.rq_names) <= live, "RQ's workers to start")

    def start_broken(self, queue: str) -> None:
        self.requests.ask("start", name=BROKEN, worker=self.broken_name, queues=[queue],
                          env={"DATABASE_URL": self.wrong_database})
        self._wait(lambda live: self.broken_name in live, f"{self.broken_name} to start")

    @staticmethod
    def _wait(done, what: str, timeout: float = 60.0) -> None:
        from taskbridge import conf
        from taskbridge.backends import get_backend

        backend = get_backend(conf.candidate())
        deadline = time.monotonic() + timeout
        while True:
            live = {worker.name for found in backend.workers().values() for worker in found}
            if done(live):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"waited {timeout:.0f}s for {what} (RQ lists {sorted(live)})")
            time.sleep(0.2)
