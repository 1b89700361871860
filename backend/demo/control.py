"""Asking the supervisor to stop and start workers, from the orchestrator.

The stages that break RQ (the rollback with its workers stopped, the guard's
stage with a worker on the wrong database) run in the orchestrator, but the
processes belong to the supervisor, which alone may start and stop them and
must know a stop is on purpose. The two talk through files in a directory:
the orchestrator writes ``<n>.json`` (a request) and waits for ``<n>.done``
(the answer, JSON). Files, not a pipe, so a run's requests can be read back
afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable


class ControlError(RuntimeError):
    """The supervisor refused a request, or did not answer in time."""


class Requests:
    """The orchestrator's side."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._n = 0

    def ask(self, action: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self._n += 1
        request = self.directory / f"{self._n:03d}.json"
        answer = request.with_suffix(".done")
        tmp = request.with_suffix(".tmp")
        tmp.write_text(json.dumps({"action": action, **params}))
        tmp.replace(request)
        deadline = time.monotonic() + timeout
        while not answer.exists():
            if time.monotonic() > deadline:
                raise ControlError(f"the supervisor did not answer {action} {params} within {timeout:.0f}s")
            time.sleep(0.05)
        result = json.loads(answer.read_text())
        if not result.get("ok"):
            raise ControlError(f"{action} {params}: {result.get('error')}")
        return result


class Answers:
    """The supervisor's side: :meth:`serve` handles every request not yet answered."""

    def __init__(self, directory: Path, handler: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.directory = directory
        self.handler = handler
        directory.mkdir(parents=True, exist_ok=True)

    def serve(self) -> None:
        for request in sorted(self.directory.glob("*.json")):
            answer = request.with_suffix(".done")
            if answer.exists():
                continue
            try:
                result = {"ok": True, **self.handler(json.loads(request.read_text()))}
            except Exception as exc:  # the orchestrator reports it; the supervisor carries on
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            tmp = answer.with_suffix(".tmp")
            tmp.write_text(json.dumps(result))
            tmp.replace(answer)
