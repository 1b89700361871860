"""The event schema and the one logger that writes it.

Every dispatch and every execution, on either backend, emits exactly one event
through :func:`emit`. ``compare`` reads the same names from this module, so the
writer and the reader cannot drift apart. The schema is documented in
``docs/events.md``; bump :data:`SCHEMA_VERSION` when a field changes meaning.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

SCHEMA_VERSION = 1

ENQUEUED = "task.enqueued"
STARTED = "task.started"
RETRYING = "task.retrying"
SUCCEEDED = "task.succeeded"
FAILED = "task.failed"
CANCELLED = "task.cancelled"
SKIPPED = "task.skipped"
ROUTE_CHANGED = "route.changed"

EVENT_NAMES = frozenset({ENQUEUED, STARTED, RETRYING, SUCCEEDED, FAILED, CANCELLED, SKIPPED, ROUTE_CHANGED})
TERMINAL_EVENTS = frozenset({SUCCEEDED, FAILED, CANCELLED})

_HOST = socket.gethostname()


def _add_envelope(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["v"] = SCHEMA_VERSION
    at = event_dict.pop("_at", None)
    moment = dt.datetime.fromtimestamp(at, dt.timezone.utc) if at is not None else dt.datetime.now(dt.timezone.utc)
    event_dict["timestamp"] = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    event_dict["pid"] = os.getpid()
    event_dict["host"] = _HOST
    return event_dict


class _LineWriter:
    """Writes each event as one line with a single ``write(2)`` on an O_APPEND file,
    so lines from many processes sharing the file never interleave."""

    def __init__(self, target: str | None) -> None:
        self._target = target
        self._pid = -1
        self._fd = -1
        self._opening = threading.Lock()

    def msg(self, message: bytes) -> None:
        if self._target is None:
            sys.stdout.write(message.decode() + "\n")
            sys.stdout.flush()
            return
        if self._pid != os.getpid():
            with self._opening:
                if self._pid != os.getpid():
                    self._fd = os.open(self._target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    self._pid = os.getpid()
        os.write(self._fd, message + b"\n")


_logger: Any = None


def _event_log_target() -> str | None:
    from django.conf import settings

    return os.environ.get("TASKBRIDGE_EVENT_LOG") or getattr(settings, "TASKBRIDGE", {}).get("EVENT_LOG") or None


def get_logger() -> Any:
    """The structlog logger for events, created on first use in each process."""
    global _logger
    if _logger is None:
        _logger = structlog.wrap_logger(
            _LineWriter(_event_log_target()),
            processors=[_add_envelope, structlog.processors.JSONRenderer(serializer=orjson.dumps)],
            wrapper_class=structlog.BoundLogger,
            cache_logger_on_first_use=True,
        )
    return _logger


def reset() -> None:
    """Forget the logger so the next event re-reads the target (tests that change it)."""
    global _logger
    _logger = None


@dataclass(frozen=True, slots=True)
class Subject:
    """The job an event is about: the fields every task event starts with."""

    backend: str
    queue: str
    task: str | None
    job_id: str
    attempt: int
    correlation_id: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "queue": self.queue, "task": self.task, "job_id": self.job_id,
            "attempt": self.attempt, "correlation_id": self.correlation_id or self.job_id,
        }


def emit(event: str, subject: Subject | None = None, *, at: float | None = None, **fields: Any) -> None:
    """Write one event about ``subject`` (task events) or about ``fields`` alone
    (``route.changed``). ``None`` values are left out so lines stay short. ``at`` (a
    ``time.time()``) is the moment the event stands for when it is written later."""
    if subject is not None:
        fields = {**subject.fields(), **fields}
    if at is not None:
        fields["_at"] = at
    get_logger().msg(event, **{key: value for key, value in fields.items() if value is not None})
