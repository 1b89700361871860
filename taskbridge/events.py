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
import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from . import stream

SCHEMA_VERSION = 2

ENQUEUED = "task.enqueued"
STARTED = "task.started"
RETRYING = "task.retrying"
SUCCEEDED = "task.succeeded"
FAILED = "task.failed"
CANCELLED = "task.cancelled"
SKIPPED = "task.skipped"
MOVED = "task.moved"
ROUTE_CHANGED = "route.changed"
#: The reconciler (or a worker) sent a job again with the same id: lost by its backend, or
#: re-run after its worker died (``reason`` says which).
REQUEUED = "task.requeued"
#: The reconciler found a worker dead and handed back what it held.
WORKER_LOST = "worker.lost"
#: Routing could not read the flags and used the last ones it read.
ROUTE_STALE = "route.stale"

EVENT_NAMES = frozenset(
    {ENQUEUED, STARTED, RETRYING, SUCCEEDED, FAILED, CANCELLED, SKIPPED, MOVED, ROUTE_CHANGED, REQUEUED, WORKER_LOST, ROUTE_STALE}
)
TERMINAL_EVENTS = frozenset({SUCCEEDED, FAILED, CANCELLED})

_HOST = socket.gethostname()


def _add_envelope(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["v"] = SCHEMA_VERSION
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = iso(time.time())
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
        self._write(message)
        stream.publish_later(message)

    def _write(self, message: bytes) -> None:
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


def iso(at: float) -> str:
    """A moment as the schema writes it: ISO 8601, UTC, microseconds, ``Z``."""
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def ms(seconds: float) -> float:
    """A duration as the schema writes it (``duration_ms``, ``wait_ms``)."""
    return round(seconds * 1000, 3)


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


def emit(event: str, subject: Subject | None = None, **fields: Any) -> None:
    """Write one event about ``subject`` (task events) or about ``fields`` alone
    (``route.changed``). ``None`` values are left out so lines stay short."""
    if subject is not None:
        fields = {**subject.fields(), **fields}
    get_logger().msg(event, **{key: value for key, value in fields.items() if value is not None})
    if event == ROUTE_CHANGED:
        stream.flush()  # rare, and what the guard's windows start from: in the stream at once, in order
