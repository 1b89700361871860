"""Route a queue's new dispatches: baseline, candidate or a candidate percentage (N%), through the interlock."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from ..flags import set_route
from ..models import RouteChange


def add_arguments(parser: Any) -> None:
    parser.add_argument("queue", help="a queue of TASKBRIDGE['QUEUES']")
    parser.add_argument("target", help="baseline, candidate, a backend alias, or the candidate's share such as 25%%")
    parser.add_argument("--reason", default="", help="why, for the audit (required with --force)")
    parser.add_argument("--force", action="store_true", help="route even where the interlock finds no live worker (audited)")


def handle(command: Any, options: dict[str, Any]) -> None:
    try:
        change = set_route(
            options["queue"], options["target"], origin=RouteChange.Origin.COMMAND, reason=options["reason"], force=options["force"],
        )
    except (ImproperlyConfigured, ValueError) as error:
        raise CommandError(str(error)) from error
    if change is None:
        command.stdout.write(f"queue {options['queue']!r}: route unchanged")
        return
    forced = " (forced past the interlock)" if change.forced else ""
    command.stdout.write(
        f"queue {change.queue!r}: {change.from_route} -> {change.to_route}{forced}, at {change.changed_at.isoformat(timespec='seconds')}"
    )
