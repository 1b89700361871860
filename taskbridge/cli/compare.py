"""Judge the candidate backend against the baseline from event logs: per-queue go / hold verdict, stranded and duplicate jobs, latency side by side."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from taskbridge import conf
from taskbridge.compare.command import EXIT_HOLD, add_arguments, run  # noqa: F401  (add_arguments: the subcommand's)
from taskbridge.errors import CompareError

# compare only reads logs: Django's system checks (database, caches, every app) are none of its business
requires_system_checks = False


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    """Under Django the two roles default to the project's: ``TASKBRIDGE['BASELINE']`` and ``['CANDIDATE']``."""
    options = {
        **options,
        "baseline": options.get("baseline") or conf.baseline(),
        "candidate": options.get("candidate") or conf.candidate(),
    }
    try:
        status = run(options, command.stdout.write)
    except CompareError as error:
        raise CommandError(str(error)) from error
    if status == EXIT_HOLD:
        raise CommandError("verdict: hold (--fail-on-hold)", returncode=EXIT_HOLD)
