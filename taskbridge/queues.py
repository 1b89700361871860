"""Queue definitions: the single source from which both backends are configured.

Pure functions, importable from a settings module before Django is set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    timeout: int
    #: What a route change does to the jobs of this queue that have not started: ``keep``
    #: (they run where they were sent) or ``move`` (they follow the route, taskbridge.move).
    backlog: str = "keep"

    @classmethod
    def from_setting(cls, name: str, options: Mapping[str, Any]) -> QueueSpec:
        timeout = options.get("timeout")
        if not isinstance(timeout, int) or timeout <= 0:
            raise ValueError(f"TASKBRIDGE['QUEUES'][{name!r}]['timeout'] must be a positive int, got {timeout!r}")
        backlog = options.get("backlog", "keep")
        if backlog not in ("keep", "move"):
            raise ValueError(f"TASKBRIDGE['QUEUES'][{name!r}]['backlog'] must be 'keep' or 'move', got {backlog!r}")
        return cls(name=name, timeout=timeout, backlog=backlog)


def parse_queues(queues: Mapping[str, Mapping[str, Any]]) -> dict[str, QueueSpec]:
    return {name: QueueSpec.from_setting(name, options) for name, options in queues.items()}
