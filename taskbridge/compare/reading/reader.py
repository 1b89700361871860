"""Event lines to a :class:`Partial`: the compact state ``compare`` keeps.

A million parsed dicts would not fit the memory budget, and events from many
processes arrive in any order, so nothing here assumes order and no parsed
line is kept. Each line is parsed, counted, and reduced to

* a float timestamp (plus one number and one label for some kinds) appended
  to the typed arrays of its *series* ``(kind, queue, task, backend)``;
* an entry in one of a few dicts keyed by job id (see :class:`Partial`), so
  that a job's fate is known whatever order its events came in;
* a counter when the line is blank, malformed, of an unknown event or of a
  newer schema version: reported later, never dropped silently.

Partials of separate blocks or processes combine with :meth:`Partial.merge`;
every update is a count, a minimum, a maximum or a set union, so the result
does not depend on which block saw which line.
"""

from __future__ import annotations

import gc
import json
import math
from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from operator import attrgetter
from typing import Any, Iterable, Iterator

import msgspec
from msgspec import UNSET

from taskbridge.events import (
    CANCELLED,
    ENQUEUED,
    EVENT_NAMES,
    FAILED,
    MOVED,
    RETRYING,
    ROUTE_CHANGED,
    SCHEMA_VERSION,
    SKIPPED,
    STARTED,
    SUCCEEDED,
    TERMINAL_EVENTS,
)

from ..options import NameFilter
from ..times import parse_timestamp

KINDS = (ENQUEUED, STARTED, RETRYING, SUCCEEDED, FAILED, CANCELLED, SKIPPED)
ENQ, START, RETRY, SUCC, FAIL, CANCEL, SKIP = range(len(KINDS))
KIND_OF = {name: index for index, name in enumerate(KINDS)}
TERMINAL_KINDS = frozenset(KIND_OF[name] for name in TERMINAL_EVENTS)
#: Series kinds after :data:`KINDS`, filled from ``task.moved`` by the slow branch: a move is
#: counted into the backend it went to and out of the one it left.
MOVE_IN, MOVE_OUT = len(KINDS), len(KINDS) + 1
SERIES_KINDS = len(KINDS) + 2
NOT_ANALYSED = frozenset(EVENT_NAMES - set(KINDS) - {ROUTE_CHANGED, MOVED})
if TERMINAL_KINDS != {SUCC, FAIL, CANCEL}:
    raise ImportError("taskbridge.events.TERMINAL_EVENTS changed; compare's job tracking must follow it")

VALUE_FIELD = {START: "wait_ms", SUCC: "duration_ms"}  # the only figures read: waits, and run times of successes
LABEL_FIELD = {RETRY: "error_type", FAIL: "error_type", CANCEL: "phase", SKIP: "reason"}
NO_LABEL = "(none)"

MAX_EXAMPLES = 10
BATCH_LINES = 100
BATCH_CHARS = 32 * 1024  # about 100 lines: the parsed batch stays in the CPU cache (measured faster than 256 KiB)
INVALID_UTF8 = "\udcff"  # prefix :mod:`.sources` puts on a line that was not UTF-8: a lone surrogate, which no decoded text holds

Group = tuple[str, str, str]  # (queue, task, backend)
Move = tuple[float, float, Group]  # (moved at, due at, group moved to)
RouteChange = tuple[float, "str | None", "str | None", "str | None", "str | None", "str | None", "str | None"]

_INF = math.inf
_NAN = math.nan
_NOT_TASK = "not a task event"
_INVALID = "invalid field type"
_FILTERED = "filtered out"  # the bucket sentinels are str whose length is not 7, so unpacking one fails


@dataclass(frozen=True)
class ParseSpec:
    """The part of the options the parser needs; small enough to hand to worker processes."""

    queues: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    since: float = -_INF
    until: float = _INF


class Partial:
    """Everything ``compare`` learns from a set of lines.

    Job state is split by what each event can tell, so that the common events
    cost one dict or set operation and merging partials is mostly C-level
    ``update`` calls:

    * ``enqueued``: job id → row in ``enqueue_at`` / ``enqueue_due`` /
      ``enqueue_group`` (first enqueue time, due time, group). The due time is
      the ``eta``/``countdown`` of the enqueue, or the enqueue time. Rows are
      dense and in insertion order, so a partial merges in with C-level
      ``extend`` and ``update`` calls instead of a loop per job;
    * ``succeeded``: job id → group of its first ``task.succeeded`` seen;
      later successes go to ``extra_successes`` (job id → [(time, group)]);
    * ``ended``: job id → kind of a ``task.failed`` / ``task.cancelled``;
    * ``started``: job ids with a ``task.started`` and, as far as this
      partial knows, no terminal event (only an unfinished job needs it: was
      it lost in the queue or while running?);
    * ``retry_due``: job id → latest time a retry was due (retrying time +
      countdown), which can push a job's stranded horizon later;
    * ``moves``: job id → its latest ``task.moved`` (by time) as (move time,
      due time, group it moved to): a moved job belongs to the backend it was
      last moved to, and is due no earlier than its move.
    """

    __slots__ = (
        "lines", "blank", "malformed", "examples", "unknown", "newer", "not_analysed",
        "filtered_out", "outside_window", "first_at", "last_at", "series", "groups",
        "enqueued", "enqueue_at", "enqueue_due", "enqueue_group",
        "succeeded", "extra_successes", "ended", "started", "retry_due", "moves", "route_changes",
    )

    def __init__(self) -> None:
        self.lines = 0
        self.blank = 0
        self.malformed: Counter[str] = Counter()
        self.examples: list[tuple[str, int, str]] = []
        self.unknown: Counter[str] = Counter()
        self.newer: Counter[int] = Counter()
        self.not_analysed: Counter[str] = Counter()
        self.filtered_out = 0
        self.outside_window = 0
        self.first_at = _INF
        self.last_at = -_INF
        # (kind, queue, task, backend) -> (times, numbers or None, labels or None), all in the window
        self.series: dict[tuple[int, str, str, str], tuple[array, array | None, list[str] | None]] = {}
        self.groups: dict[Group, Group] = {}
        self.enqueued: dict[str, int] = {}
        self.enqueue_at = array("d")
        self.enqueue_due = array("d")
        self.enqueue_group: list[Group] = []
        self.succeeded: dict[str, Group] = {}
        self.extra_successes: dict[str, list[tuple[float, Group]]] = {}
        self.ended: dict[str, int] = {}
        self.started: set[str] = set()
        self.retry_due: dict[str, float] = {}
        self.moves: dict[str, Move] = {}
        self.route_changes: list[RouteChange] = []

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def events(self) -> int:
        """Lines that were valid events of a schema version this reader knows."""
        return self.lines - self.blank - self.malformed_total - sum(self.unknown.values()) - sum(self.newer.values())

    def reject(self, reason: str, source: str, line: int) -> None:
        self.malformed[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((source, line, reason))

    def enqueue_of(self, job_id: str) -> tuple[float, float, Group]:
        row = self.enqueued[job_id]
        return (self.enqueue_at[row], self.enqueue_due[row], self.enqueue_group[row])

    def set_enqueue(self, row: int, at: float, due: float, group: Group) -> None:
        self.enqueue_at[row], self.enqueue_due[row], self.enqueue_group[row] = at, due, group

    def add_enqueue(self, job_id: str, at: float, due: float, group: Group) -> None:
        """An enqueue the hot loop did not take: the job id was enqueued before."""
        row = self.enqueued[job_id]
        self.set_enqueue(row, *_earliest_enqueue(self.enqueue_of(job_id), (at, due, group)))

    def add_move(self, job_id: str, move: Move) -> None:
        """Keep the job's latest move; ties (same time) go to the greater tuple, so the result does not depend on order."""
        known = self.moves.get(job_id)
        if known is None or move > known:
            self.moves[job_id] = move

    def merge(self, other: Partial, line_offset: int = 0) -> None:
        """Fold ``other`` (a later block of the same or another source) into this one."""
        self.lines += other.lines
        self.blank += other.blank
        self.malformed.update(other.malformed)
        room = MAX_EXAMPLES - len(self.examples)
        if room > 0:
            self.examples.extend((source, line + line_offset, reason) for source, line, reason in other.examples[:room])
        self.unknown.update(other.unknown)
        self.newer.update(other.newer)
        self.not_analysed.update(other.not_analysed)
        self.filtered_out += other.filtered_out
        self.outside_window += other.outside_window
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        for key, (stamps, values, labels) in other.series.items():
            mine = self.series.get(key)
            if mine is None:
                self.series[key] = (stamps, values, labels)
                continue
            mine[0].extend(stamps)
            if values is not None:
                mine[1].extend(values)  # type: ignore[union-attr]
            if labels is not None:
                mine[2].extend(labels)  # type: ignore[union-attr]
        for group in other.groups:
            self.groups.setdefault(group, group)

        base = len(self.enqueue_at)
        for job_id in other.enqueued.keys() & self.enqueued.keys():
            other.set_enqueue(other.enqueued[job_id], *_earliest_enqueue(self.enqueue_of(job_id), other.enqueue_of(job_id)))
        self.enqueue_at.extend(other.enqueue_at)
        self.enqueue_due.extend(other.enqueue_due)
        self.enqueue_group.extend(other.enqueue_group)
        self.enqueued.update(zip(other.enqueued, range(base, base + len(other.enqueue_at))))
        for job_id in self.succeeded.keys() & other.succeeded.keys():
            self.extra_successes.setdefault(job_id, []).append((_NAN, other.succeeded.pop(job_id)))
        self.succeeded.update(other.succeeded)
        for job_id, extra in other.extra_successes.items():
            self.extra_successes.setdefault(job_id, []).extend(extra)
        self.ended.update(other.ended)
        self.started.difference_update(other.succeeded.keys(), other.ended.keys())
        self.started.update(job_id for job_id in other.started if job_id not in self.succeeded and job_id not in self.ended)
        for job_id in self.retry_due.keys() & other.retry_due.keys():
            other.retry_due[job_id] = max(self.retry_due[job_id], other.retry_due[job_id])
        self.retry_due.update(other.retry_due)
        for job_id, move in other.moves.items():
            self.add_move(job_id, move)
        self.route_changes.extend(other.route_changes)


def _earliest_enqueue(one: tuple[float, float, Group], other: tuple[float, float, Group]) -> tuple[float, float, Group]:
    """Two enqueues of one job id: keep the first enqueue (and its group), and the latest due time."""
    first = one if one[0] <= other[0] else other
    return (first[0], max(one[1], other[1]), first[2])


class Event(msgspec.Struct, gc=False):
    """The fields of an event line that ``compare`` reads.

    The decoder builds only these (any other field is skipped in C without
    being made into an object) and checks the three every event has; a field
    the line lacks is ``UNSET``. Reading a line into this is about 40 % less
    work than into a dict (``benchmarks/compare.py``, docs/performance.md).
    The values stay untyped (``Any``): a field of the wrong type is counted by
    the loop below, like in a log read by hand, not refused with its batch.
    """

    event: Any
    timestamp: Any
    v: Any
    queue: Any = UNSET
    task: Any = UNSET
    backend: Any = UNSET
    job_id: Any = UNSET
    wait_ms: Any = UNSET
    duration_ms: Any = UNSET
    error_type: Any = UNSET
    phase: Any = UNSET
    reason: Any = UNSET
    eta: Any = UNSET
    countdown: Any = UNSET
    flag: Any = UNSET
    origin: Any = msgspec.field(default=UNSET, name="from")
    to: Any = UNSET
    user: Any = UNSET


REQUIRED = ("event", "timestamp", "v")
_decode_batch = msgspec.json.Decoder(list[Event]).decode
_decode_one = msgspec.json.Decoder(Event).decode
_decode_lines = msgspec.json.Decoder(Event).decode_lines


def _given(value: Any) -> Any:
    """A field's value, ``None`` when the line lacks it."""
    return None if value is UNSET else value


class _Rejected:
    """A line the per-line parser refused; reading a field of it fails like a non-object would."""

    __slots__ = ("reason",)

    def __init__(self, reason: str | None) -> None:
        self.reason = reason


def _parse_one(line: str) -> Event | _Rejected:
    """One line, alone: the event, or a :class:`_Rejected` (reason ``None``: blank)."""
    if line.startswith(INVALID_UTF8):
        return _Rejected("invalid UTF-8")
    try:
        return _decode_one(line)
    except msgspec.DecodeError:
        pass
    try:
        value = json.loads(line)  # what msgspec refuses but Python's json writes, e.g. NaN
    except ValueError:
        return _Rejected("invalid JSON" if line.strip() else None)
    return event_of(value)


def event_of(value: Any) -> Event | _Rejected:
    """A decoded JSON value (a dict, as a log line decodes) as an :class:`Event`, or why it is not one."""
    if not isinstance(value, dict):
        return _Rejected("not a JSON object")
    for key in REQUIRED:
        if key not in value:
            return _Rejected(f"missing {key}")
    return msgspec.convert(value, Event)


def _parse_joined(lines: list[str], joined: str) -> list[Any]:
    """``joined`` is ``lines`` joined by commas: parse it as one array, or each line alone.

    One ``json.loads`` over a batch shares key strings across the batch and
    pays the per-call overhead once: a third fewer instructions per line than
    a ``json.loads`` per line (measured with cachegrind).
    If the array does not parse, or does not hold exactly one value per line,
    every line of the batch is parsed alone, so a bad line costs its batch
    speed, never correctness. Lines that are each valid JSON always give one
    value per line (a value cannot span the comma between two complete
    values); only a crafted log, where two broken fragments form one object
    while another line holds two values, could keep the count and shift the
    lines between them. A log written one ``write()`` per line cannot.
    """
    try:
        parsed = _decode_batch("[" + joined + "]")
    except msgspec.DecodeError:
        parsed = None
    if parsed is None or len(parsed) != len(lines):
        parsed = [_parse_one(line) for line in lines]
    return parsed


def _line_batches(lines: Iterable[str]) -> Iterator[list[Any]]:
    iterator = iter(lines)
    while True:
        chunk = list(islice(iterator, BATCH_LINES))
        if not chunk:
            return
        chunk = [line[:-1] if line.endswith("\n") else line for line in chunk]
        if any(INVALID_UTF8 in line[:1] or "\n" in line for line in chunk):
            yield [_parse_one(line) for line in chunk]
        else:
            yield _parse_joined(chunk, ",".join(chunk))


def _text_batches(text: str) -> Iterator[list[Any]]:
    """Batches straight from a block of text: commas replace newlines, no per-line strings until a batch fails."""
    if text.endswith("\n"):
        text = text[:-1]
    start, size = 0, len(text)
    if size == 0:
        return
    while start <= size:
        end = text.find("\n", start + BATCH_CHARS)
        if end < 0:
            end = size
        chunk = text[start:end]
        count = chunk.count("\n") + 1
        try:
            parsed = _decode_batch("[" + chunk.replace("\n", ",") + "]")
        except msgspec.DecodeError:
            parsed = None
        if parsed is None or len(parsed) != count:
            parsed = [_parse_one(line) for line in chunk.split("\n")]
        yield parsed
        start = end + 1


def _byte_batches(data: bytes) -> Iterator[list[Any]]:
    """Batches straight from a block of bytes, each about :data:`BATCH_CHARS` of whole lines:
    the decoder reads JSON lines (and checks their UTF-8) from a view of the block itself, so
    nothing is copied or decoded to ``str`` first (0.47 µs an event, against 1.11 µs for the
    same lines joined into a JSON array). A batch whose decoded values are not one per line
    (a malformed line, a line that is not an event, a blank line, which the decoder skips) is
    parsed line by line, each line decoded on its own, so a bad line costs only its batch's speed."""
    size = len(data)
    view = memoryview(data)
    start = 0
    while start < size:
        end = data.find(b"\n", start + BATCH_CHARS, size)
        end = size if end < 0 else end + 1
        try:
            parsed = _decode_lines(view[start:end])
        except msgspec.DecodeError:
            parsed = None
        lines = data.count(b"\n", start, end) + (data[end - 1] != 0x0A)
        if parsed is None or len(parsed) != lines:
            chunk = data[start:end - 1] if data[end - 1] == 0x0A else data[start:end]
            parsed = [_parse_one(decode_line(line)) for line in chunk.split(b"\n")]
        yield parsed
        start = end


def decode_line(raw: bytes) -> str:
    """One line as text; a line that is not UTF-8 comes back marked with :data:`INVALID_UTF8` so the parser counts it."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_UTF8 + raw.decode("utf-8", "replace")


def parse_bytes(data: bytes, spec: ParseSpec, source: str = "<bytes>", into: Partial | None = None, line_offset: int = 0) -> Partial:
    """Parse a block of whole lines (newline-separated bytes, UTF-8) into ``into`` or a new partial."""
    return _parse(_byte_batches(data), spec, source, Partial() if into is None else into, line_offset)


def parse_lines(lines: Iterable[str], spec: ParseSpec, source: str = "<lines>", into: Partial | None = None, line_offset: int = 0) -> Partial:
    """Parse ``lines`` (each one event, with or without its newline) into ``into`` or a new partial."""
    return _parse(_line_batches(lines), spec, source, Partial() if into is None else into, line_offset)


def parse_text(text: str, spec: ParseSpec, source: str = "<text>", into: Partial | None = None, line_offset: int = 0) -> Partial:
    """Parse a block of whole lines (newline-separated) into ``into`` or a new partial."""
    return _parse(_text_batches(text), spec, source, Partial() if into is None else into, line_offset)


def parse_events(events: Iterable[Any], spec: ParseSpec, source: str = "<events>", into: Partial | None = None) -> Partial:
    """Parsed events (one dict each, as a log line decodes) into ``into`` or a new partial: what the live guard reads from its stream."""
    return _parse(_event_batches(events), spec, source, Partial() if into is None else into, 0)


def _event_batches(events: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(events)
    while True:
        batch = [event_of(value) for value in islice(iterator, BATCH_LINES)]
        if not batch:
            return
        yield batch


def _parse(batches: Iterator[list[Any]], spec: ParseSpec, source: str, part: Partial, line_offset: int) -> Partial:
    collecting = gc.isenabled()
    gc.disable()  # nothing below makes reference cycles, and collections over millions of young objects cost a fifth of the time
    try:
        return _parse_batches(batches, spec, source, part, line_offset)
    finally:
        if collecting:
            gc.enable()


def _parse_batches(batches: Iterator[list[Any]], spec: ParseSpec, source: str, part: Partial, line_offset: int) -> Partial:
    """The hot loop of ``compare``.

    Written for speed: local names; one dict lookup per series, whose key
    ``(event, queue, task, backend)`` also gives the kind, with the queue and
    task filters decided once per key; one dict or set operation per job;
    nothing kept per line. Every unusual case leaves through a slow branch
    that counts the reason. The first and last timestamps are taken from the
    new part of each series at the end rather than compared line by line.
    """
    slow_time = parse_timestamp
    from_iso = datetime.fromisoformat
    labels = _Labels()
    queue_ok, task_ok = NameFilter(spec.queues), NameFilter(spec.tasks)
    since, until = spec.since, spec.until
    series, groups = part.series, part.groups
    enqueued, succeeded, ended, retry_due = part.enqueued, part.succeeded, part.ended, part.retry_due
    started_add = part.started.add
    add_enqueue_at, add_enqueue_due, add_enqueue_group = part.enqueue_at.append, part.enqueue_due.append, part.enqueue_group.append
    rows = len(part.enqueue_at)
    ids: dict[str, str] = {}
    same_id = ids.setdefault  # one str per job id, shared by every dict that holds it
    buckets: dict[tuple[Any, ...], Any] = {}
    version_ok = SCHEMA_VERSION
    seen_before = {key: len(stored[0]) for key, stored in series.items()}
    first_at, last_at = part.first_at, part.last_at
    filtered_out = outside_window = 0
    lineno = line_offset
    enq, start, succ, fail, cancel, retry = ENQ, START, SUCC, FAIL, CANCEL, RETRY

    def new_bucket(key: tuple[Any, ...]) -> Any:
        name, queue, task, backend = key
        kind = KIND_OF.get(name) if name.__class__ is str else None
        if kind is None:
            return _NOT_TASK
        if queue.__class__ is not str or task.__class__ is not str or backend.__class__ is not str:
            return _INVALID
        if not (queue_ok(queue) and task_ok(task)):
            return _FILTERED
        series_key = (kind, queue, task, backend)
        stored = series.get(series_key)
        if stored is None:
            stored = series[series_key] = (
                array("d"),
                array("d") if kind in VALUE_FIELD else None,
                [] if kind in LABEL_FIELD else None,
            )
        group = groups.setdefault((queue, task, backend), (queue, task, backend))
        return (
            kind,
            stored[0].append,
            None if stored[1] is None else stored[1].append,
            attrgetter(VALUE_FIELD[kind]) if kind in VALUE_FIELD else None,
            None if stored[2] is None else stored[2].append,
            attrgetter(LABEL_FIELD[kind]) if kind in LABEL_FIELD else None,
            group,
        )

    def other_event(event: Event, name: Any, at: float, lineno: int) -> None:
        """A line that is a valid event but not a task event of a selected queue and task."""
        if name.__class__ is not str:
            part.reject("invalid event name", source, lineno)
            return
        note_time(at)
        if name == ROUTE_CHANGED:
            part.route_changes.append(_route_change(event, at))
        elif name == MOVED:
            moved(event, at, lineno)
        elif name in NOT_ANALYSED:
            part.not_analysed[name] += 1
        elif name not in KIND_OF:
            part.unknown[name] += 1
        else:
            for key in ("queue", "task", "backend", "job_id"):
                if getattr(event, key) is UNSET:
                    part.reject(f"missing {key}", source, lineno)
                    return
            part.reject(_INVALID, source, lineno)

    def moved(event: Event, at: float, lineno: int) -> None:
        """A ``task.moved``: rare, so it is read here rather than by a kind in the hot loop."""
        nonlocal filtered_out, outside_window
        fields = []
        for key, value in (("queue", event.queue), ("task", event.task), ("backend", event.backend), ("from", event.origin), ("job_id", event.job_id)):
            if value is UNSET:
                part.reject(f"missing {key}", source, lineno)
                return
            if value.__class__ is not str:
                part.reject(_INVALID, source, lineno)
                return
            fields.append(value)
        queue, task, target, origin, job_id = fields
        if not (queue_ok(queue) and task_ok(task)):
            filtered_out += 1
            return
        group = groups.setdefault((queue, task, target), (queue, task, target))
        eta = parse_timestamp(event.eta) if _given(event.eta) is not None else None
        part.add_move(same_id(job_id, job_id), (at, at if eta is None else max(at, eta), group))
        if not since <= at < until:
            outside_window += 1
            return
        for kind, backend in ((MOVE_IN, target), (MOVE_OUT, origin)):
            stored = series.get((kind, queue, task, backend))
            if stored is None:
                stored = series[(kind, queue, task, backend)] = (array("d"), None, None)
                groups.setdefault((queue, task, backend), (queue, task, backend))
            stored[0].append(at)

    def note_time(at: float) -> None:
        nonlocal first_at, last_at
        if at < first_at:
            first_at = at
        if at > last_at:
            last_at = at

    for batch in batches:
        for event in batch:
            lineno += 1
            try:
                name = event.event
            except AttributeError:  # a line refused by the parser
                if event.reason is None:
                    part.blank += 1
                else:
                    part.reject(event.reason, source, lineno)
                continue
            stamp = event.timestamp
            version = event.v
            if version != version_ok and not (version.__class__ is int and 1 <= version < version_ok):
                # v2 only added task.moved: a v1 line means what it meant
                if version.__class__ is int and version > version_ok:
                    part.newer[version] += 1
                else:
                    part.reject("unsupported v", source, lineno)
                continue
            try:
                at = from_iso(stamp).timestamp() if stamp[-1] == "Z" else slow_time(stamp)
            except (ValueError, TypeError, IndexError, KeyError):
                at = slow_time(stamp)
            if at is None:
                part.reject("invalid timestamp", source, lineno)
                continue
            key = (name, event.queue, event.task, event.backend)
            try:
                bucket = buckets[key]
            except KeyError:
                bucket = buckets[key] = new_bucket(key)
            except TypeError:
                bucket = _INVALID
            try:
                kind, add_time, add_value, value_field, add_label, label_field, group = bucket
            except ValueError:  # one of the str sentinels: never seven characters long
                if bucket is _FILTERED and event.job_id is not UNSET:
                    filtered_out += 1
                    note_time(at)
                else:
                    other_event(event, name, at, lineno)
                continue
            job_id = event.job_id
            if job_id.__class__ is not str:
                other_event(event, name, at, lineno)
                continue

            if kind == start:
                started_add(same_id(job_id, job_id))
            elif kind == enq:
                job_id = same_id(job_id, job_id)
                due = at if event.eta is UNSET and event.countdown is UNSET else _due(event, at)
                if job_id in enqueued:
                    part.add_enqueue(job_id, at, due, group)
                else:
                    enqueued[job_id] = rows
                    rows += 1
                    add_enqueue_at(at)
                    add_enqueue_due(due)
                    add_enqueue_group(group)
            elif kind == succ:
                job_id = same_id(job_id, job_id)
                if job_id in succeeded:
                    part.extra_successes.setdefault(job_id, []).append((at, group))
                else:
                    succeeded[job_id] = group
            elif kind == fail or kind == cancel:
                ended[same_id(job_id, job_id)] = kind
            elif kind == retry:
                due = at + _countdown(event)
                if due > retry_due.get(job_id, -_INF):
                    retry_due[same_id(job_id, job_id)] = due

            if since <= at < until:
                add_time(at)
                if add_value is not None:
                    value = value_field(event)
                    add_value(value if value.__class__ is float else _number(value))
                if add_label is not None:
                    add_label(labels(label_field(event)))
            else:
                outside_window += 1
                note_time(at)

    for key, stored in series.items():
        new = stored[0][seen_before.get(key, 0):]
        if new:
            first_at = min(first_at, min(new))
            last_at = max(last_at, max(new))
    part.lines += lineno - line_offset
    part.first_at, part.last_at = first_at, last_at
    part.filtered_out += filtered_out
    part.outside_window += outside_window
    part.started.difference_update([job_id for job_id in ids if job_id in succeeded or job_id in ended])
    return part


def _number(value: object) -> float:
    if value.__class__ is float:
        return value  # type: ignore[return-value]
    if value.__class__ is int:
        return float(value)  # type: ignore[arg-type]
    return _NAN


class _Labels:
    """One shared ``str`` per distinct label, so a million failures cost a million pointers."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, value: object) -> str:
        if value.__class__ is not str:
            value = NO_LABEL if value is None or value is UNSET else json.dumps(value, sort_keys=True)
        seen = self.seen.get(value)  # type: ignore[arg-type]
        if seen is None:
            seen = self.seen[value] = value  # type: ignore[index,assignment]
        return seen  # type: ignore[return-value]


def _countdown(event: Event) -> float:
    countdown = _number(event.countdown)
    return countdown if countdown == countdown else 0.0


def _due(event: Event, at: float) -> float:
    """When an enqueued job becomes runnable: its ``eta`` or ``countdown``, else at once."""
    eta = _given(event.eta)
    if eta is not None:
        due = parse_timestamp(eta)
        if due is not None:
            return due
    return at + _countdown(event)


def _route_change(event: Event, at: float) -> RouteChange:
    def text(value: Any) -> str | None:
        value = _given(value)
        return None if value is None else str(value)

    return (at, text(event.flag), text(event.queue), text(event.task), text(event.origin), text(event.to), text(event.user))
