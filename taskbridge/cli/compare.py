"""Compare Celery and RQ from event logs: per-queue go / hold verdict, stranded and duplicate jobs, latency side by side."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from taskbridge.compare.command import EXIT_HOLD, CompareError, add_arguments, run  # noqa: F401  (add_arguments: the subcommand's)


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    try:
        status = run(options, command.stdout.write)
    except CompareError as error:
        raise CommandError(str(error)) from error
    if status == EXIT_HOLD:
        raise CommandError("verdict: hold (--fail-on-hold)", returncode=EXIT_HOLD)
