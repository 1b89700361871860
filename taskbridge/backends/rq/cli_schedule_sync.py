"""Sync TASKBRIDGE['SCHEDULE'] into rq-scheduler: add, change and remove taskbridge's periodic jobs (a no-op when in sync).

Only jobs whose id starts with ``taskbridge-periodic-`` are touched. Every
entry is checked (task declared, arguments fit its signature) before anything
changes, so a bad entry leaves the scheduler as it was. ``manage.py taskbridge
scheduler`` runs this before it starts the scheduler loop.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")


def run(command: Any, dry_run: bool = False) -> Any:
    from taskbridge import periodic
    from taskbridge.backends.rq import periodic as rq

    try:
        schedule = periodic.entries()
        report = rq.sync(schedule, dry_run=dry_run)
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from None
    prefix = "schedule-sync (dry run): " if dry_run else "schedule-sync: "
    for line in report.lines:
        command.stdout.write(prefix + line)
    if report.changes:
        command.stdout.write(
            f"{prefix}{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
            f"{len(report.unchanged)} unchanged"
        )
    else:
        command.stdout.write(f"{prefix}no changes ({len(report.unchanged)} entries in sync)")
    return report


def handle(command: Any, options: dict[str, Any]) -> None:
    run(command, dry_run=options.get("dry_run", False))
