"""Run the RQ scheduler: schedule-sync, then rq-scheduler's loop with taskbridge's scheduler class (JSON jobs, period-aligned fires).

This is the documented RQ scheduler start (Procfile ``rq_scheduler``). Stock
``manage.py rqscheduler`` would create and read jobs with RQ's default, non-JSON serializer (rq-scheduler
0.14 has no serializer option) unless ``RQ["SCHEDULER_CLASS"]`` names
``taskbridge.backends.rq.periodic.TaskbridgeScheduler``; see docs/periodic.md.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--interval", type=float, default=5.0,
        help="seconds between checks for due jobs (default 5); a fire is at most this late, so it must be "
        "shorter than the shortest period in the schedule",
    )
    parser.add_argument("--name", default=None, help="scheduler name in Redis (default: random)")
    parser.add_argument("--no-sync", action="store_true", help="do not run schedule-sync first")
    parser.add_argument("--burst", action="store_true", help="fire what is due once, then exit")


def _shortest_period(timing: Any) -> float:
    if timing.every is not None:
        return float(timing.every)
    start, lengths = time.time(), []
    for _ in range(20):
        start = timing.next_start(start)
        lengths.append(timing.length(start))
    return min(lengths)


def handle(command: Any, options: dict[str, Any]) -> None:
    from rq_scheduler.utils import setup_loghandlers

    from taskbridge import periodic
    from taskbridge.backends.rq import cli_schedule_sync as schedule_sync
    from taskbridge.backends.rq.periodic import TaskbridgeScheduler

    interval = options["interval"]
    if interval <= 0:
        raise CommandError("--interval must be > 0")
    try:
        schedule = periodic.entries()
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from None
    shortest = min((_shortest_period(entry.timing) for entry in schedule.values()), default=None)
    if shortest is not None and interval >= shortest:
        raise CommandError(
            f"--interval {interval:g}s is not shorter than the shortest period ({shortest:g}s): fires would land in "
            "the next period"
        )
    if not options["no_sync"]:
        schedule_sync.run(command)
    verbosity = options.get("verbosity", 1)
    setup_loghandlers("DEBUG" if verbosity >= 2 else "WARNING" if verbosity == 0 else "INFO")
    TaskbridgeScheduler(interval=interval, name=options["name"]).run(burst=options["burst"])
