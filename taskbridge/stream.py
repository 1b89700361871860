"""The live copy of the event log: a bounded Redis stream, plus the counters ``/metrics`` reads.

Every event line :mod:`taskbridge.events` writes is also appended here, so the
guard can judge the last minutes without collecting log files. The log stays
the durable record that ``compare`` reads; this stream is capped
(``TASKBRIDGE["LIVE_STREAM_MAXLEN"]``, trimmed approximately, which Redis does
in whole blocks and so cheaply) and best effort: when Redis cannot be reached
the line is still logged and publishing pauses for :data:`PAUSE_SECONDS`
instead of slowing every dispatch down with a failing connect.

An event costs its process no Redis round trip when it is written:
:func:`publish_later` (what :mod:`taskbridge.events` calls) adds the line to a
buffer that a daemon thread of the process sends every :data:`FLUSH_SECONDS`:
all buffered lines as one stream entry, with the counters, in one pipeline. A process
about to exit without running its threads on (an RQ work horse) calls
:func:`flush` first; a process killed outright loses at most the last
:data:`FLUSH_SECONDS` of its live events, never its log lines.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
from collections import Counter, defaultdict
from typing import Any, Iterable

import orjson
import redis

from . import conf
from .redis import connection

STREAM_KEY = "taskbridge:live:events"
COUNTS_KEY = "taskbridge:live:counts"
HISTOGRAM_KEY = "taskbridge:live:histograms"
PAUSE_SECONDS = 5.0
#: How often a process's buffered events are sent; also the most a killed process loses.
FLUSH_SECONDS = 0.05
#: A buffer this long is sent at once rather than waiting for the next tick.
FLUSH_LINES = 500

#: Upper bounds (seconds) of the run-time and wait-time histogram buckets; +Inf is implied.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: Which event carries which timing, in the histogram's name.
TIMINGS = {"task.succeeded": ("duration_ms", "run"), "task.started": ("wait_ms", "wait")}
SEPARATOR = "|"
#: An entry's field holding its lines, one event per line (a JSON line never holds a raw newline).
FIELD = b"e"
LINE_BREAK = b"\n"

_paused_until = 0.0


def enabled() -> bool:
    return conf.option("LIVE_STREAM_MAXLEN") > 0


def bucket_label(seconds: float) -> str:
    """The ``le`` of the bucket a value falls in (stored per bucket; the collector adds them up)."""
    for bound in BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


def _commands(pipe: Any, lines: list[bytes]) -> None:
    """One ``XADD`` for the batch (its lines in one entry) and one ``HINCRBY`` per distinct
    counter, the counters added up here first: a batch costs a few commands, not four per event.

    The stream is trimmed in entries, so an entry of ``k`` lines keeps about
    ``LIVE_STREAM_MAXLEN / k`` entries: about ``LIVE_STREAM_MAXLEN`` events while the
    processes send batches of similar sizes, and never more entries than that."""
    maxlen = max(1, -(-conf.option("LIVE_STREAM_MAXLEN") // len(lines)))
    pipe.execute_command("XADD", STREAM_KEY, "MAXLEN", "~", maxlen, "*", FIELD, LINE_BREAK.join(lines))
    counts: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    sums: defaultdict[str, float] = defaultdict(float)
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        name, queue, backend = event.get("event"), event.get("queue"), event.get("backend")
        if not (isinstance(name, str) and isinstance(queue, str) and isinstance(backend, str)):
            continue
        counts[SEPARATOR.join((name, queue, backend))] += 1
        timing = TIMINGS.get(name)
        value = event.get(timing[0]) if timing else None
        if timing and isinstance(value, (int, float)) and math.isfinite(value):
            seconds = max(0.0, value / 1000)
            head = SEPARATOR.join((timing[1], queue, backend))
            buckets[f"{head}{SEPARATOR}{bucket_label(seconds)}"] += 1
            sums[f"{head}{SEPARATOR}sum"] += seconds
    for field, count in counts.items():
        pipe.hincrby(COUNTS_KEY, field, count)
    for field, count in buckets.items():
        pipe.hincrby(HISTOGRAM_KEY, field, count)
    for field, seconds in sums.items():
        pipe.hincrbyfloat(HISTOGRAM_KEY, field, seconds)


def publish(line: bytes) -> None:
    """Append one event line (as logged) to the stream and count it now; never raises for Redis."""
    _send([line])


def _send(lines: list[bytes]) -> None:
    global _paused_until
    if not lines or (_paused_until and time.monotonic() < _paused_until):
        return
    try:
        if not enabled():
            return
        with connection().pipeline(transaction=False) as pipe:
            _commands(pipe, lines)
            pipe.execute()
        _paused_until = 0.0
    except redis.RedisError:
        _paused_until = time.monotonic() + PAUSE_SECONDS


class _Buffer:
    """This process's events not yet sent, and the daemon thread that sends them (one per
    process: a forked child starts its own on its first event)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.pid = -1

    def add(self, line: bytes) -> None:
        with self.lock:
            if self.pid != os.getpid():
                self.lines, self.lock, self.wake, self.pid = [], threading.Lock(), threading.Event(), os.getpid()
                threading.Thread(target=self._run, name="taskbridge-stream", daemon=True).start()
            self.lines.append(line)
            full = len(self.lines) >= FLUSH_LINES
        if full:
            self.wake.set()

    def take(self) -> list[bytes]:
        with self.lock:
            lines, self.lines = self.lines, []
        return lines

    def _run(self) -> None:
        while True:
            self.wake.wait(FLUSH_SECONDS)
            self.wake.clear()
            flush()


_buffer = _Buffer()
#: Held while buffered lines are on their way, so a reset never comes between taking and sending them.
_sending = threading.Lock()


def publish_later(line: bytes) -> None:
    """Buffer one event line for this process's next send (no Redis call here)."""
    _buffer.add(line)


def flush() -> None:
    """Send this process's buffered events now (before an exit that skips its threads)."""
    with _sending:
        _send(_buffer.take())




def _after_fork_in_child() -> None:
    """A forked child (an RQ work horse, a Celery pool process) starts with an empty buffer
    and free locks: its parent's flusher thread may have held them at the fork."""
    global _buffer, _sending
    _buffer, _sending = _Buffer(), threading.Lock()


atexit.register(flush)
os.register_at_fork(after_in_child=_after_fork_in_child)


def window(seconds: float, now: float | None = None, conn: redis.Redis | None = None) -> list[dict[str, Any]]:
    """The events appended in the last ``seconds`` (by Redis' clock, which names the entries), decoded."""
    conn = conn or connection()
    if now is None:
        server_seconds, micros = conn.time()
        now = server_seconds + micros / 1e6
    start = max(0, int((now - seconds) * 1000))
    return list(decode(line for _id, fields in conn.xrange(STREAM_KEY, min=f"{start}-0", max="+") for line in entry_lines(fields)))


def entry_lines(fields: dict[bytes, bytes]) -> list[bytes]:
    """The event lines of one stream entry (one process's batch)."""
    batch = fields.get(FIELD)
    return batch.split(LINE_BREAK) if batch else []


def decode(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            yield event


def reset(conn: redis.Redis | None = None) -> None:
    """Drop the stream and the counters (tests, and an operator starting the counts afresh),
    and this process's events not sent yet: they belong to before."""
    with _sending:
        _buffer.take()
        (conn or connection()).delete(STREAM_KEY, COUNTS_KEY, HISTOGRAM_KEY)
