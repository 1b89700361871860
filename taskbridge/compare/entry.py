"""The two ways into ``compare``: event logs (:func:`analyse`) and event dicts already in memory (:func:`judge_events`).

Both read into one :class:`~.reading.reader.Partial` and hand it to the same
:func:`~.judging.build.build_report`, so a report from a file and one from a
live window of the same events are the same report.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from .judging.build import build_report
from .judging.report import Report
from .options import Options
from .reading.collect import collect
from .reading.reader import ParseSpec, parse_events
from .reading.sources import normalise


def analyse(source: Any, options: Options | None = None, **loose: Any) -> Report:
    """Read event logs and judge the candidate backend against the baseline.

    ``source`` is a path (``"-"`` for standard input), an open file, a list of
    paths or files, or an iterable of lines; see
    :func:`taskbridge.compare.reading.sources.normalise`. Options come as an
    :class:`~.options.Options` or as keywords (``baseline=`` and ``candidate=``, the
    backends' aliases as events name them; ``queues=["podcast"]``,
    ``since="2025-01-01T00:00:00Z"``, ``horizon="2h"``, ``split_at="route-change"``, ``max_p95_ratio=2.0``, …).
    Backend names not given come from ``taskbridge.conf`` when Django settings
    are named, else :class:`~.roles.MissingRoles` is raised.
    """
    options = _options(options, loose)
    inputs = normalise(source)
    with _no_cyclic_gc():
        part = collect(inputs, _spec(options), workers=options.workers, block_size=options.block_size)
        return build_report(part, options, [source.label for source in inputs])


def judge_events(events: Iterable[dict[str, Any]], options: Options | None = None, *, source: str = "<events>", **loose: Any) -> Report:
    """Judge a window of events already in memory, with exactly the verdict code of :func:`analyse`.

    This is the live guard's entry point: it keeps a bounded window of recent
    events (a Redis stream) and asks, every so often, whether the candidate
    still holds up against the baseline, without writing the window to a file
    first. Each item is one event as a log line decodes (``json.loads`` of a
    line ``taskbridge.events`` writes: ``event``, ``v``, ``timestamp``,
    ``queue``, ``task``, ``backend``, ``job_id``, …); anything else is counted
    as malformed, as in a log. Order does not matter. Options are those of
    :func:`analyse`; ``now`` defaults to the newest event, so a guard that
    wants the wall clock passes ``now=time.time()``. ``source`` labels the
    window in the report's input summary.
    """
    options = _options(options, loose)
    with _no_cyclic_gc():
        part = parse_events(events, _spec(options), source)
        return build_report(part, options, [source])


def _options(options: Options | None, loose: dict[str, Any]) -> Options:
    if options is None:
        options = Options.build(**loose)
    elif loose:
        raise TypeError("pass either options= or keyword options, not both")
    return options.with_roles()


def _spec(options: Options) -> ParseSpec:
    since, until = options.window
    return ParseSpec(options.queues, options.tasks, since, until)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Nothing here makes reference cycles, but the collector would rescan the
    growing per-job dicts over and over while a large log is merged."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
