"""The recent events of the live stream, kept in memory and topped up each tick.

Each tick reads only the entries added since the last one (``XRANGE`` from the
last id seen) and drops those older than the window, so the guard's cost per
tick follows the event rate, not the window's length.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import orjson
import redis

from .. import stream
from ..compare.times import parse_iso


class EventWindow:
    def __init__(self, conn: redis.Redis, seconds: float, batch: int = 10_000) -> None:
        self.conn = conn
        self.seconds = seconds
        self.batch = batch
        self.events: deque[tuple[float, dict[str, Any]]] = deque()
        self._last_id: bytes | None = None

    def refresh(self, now: float) -> list[tuple[float, dict[str, Any]]]:
        """Read what is new, forget what is older than the window; returns (time, event) pairs, oldest first."""
        start = f"({self._last_id.decode()}" if self._last_id else f"{max(0, int((now - self.seconds) * 1000))}-0"
        while True:
            entries = self.conn.xrange(stream.STREAM_KEY, min=start, max="+", count=self.batch)
            for entry_id, values in entries:
                self._last_id = entry_id
                for line in stream.entry_lines(values):
                    self._add(line)
            if len(entries) < self.batch:
                break
            start = f"({self._last_id.decode()}"  # type: ignore[union-attr]
        while self.events and self.events[0][0] < now - self.seconds:
            self.events.popleft()
        return list(self.events)

    def _add(self, line: bytes) -> None:
        try:
            event = orjson.loads(line)
            at = parse_iso(event["timestamp"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        self.events.append((at, event))
