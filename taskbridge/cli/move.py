"""Move a queue's jobs that have not started to the backend its route names now (or --to)."""

from __future__ import annotations

import json
import dataclasses
from typing import Any

from django.core.management.base import CommandError

from ..errors import MoveError
from ..move import move


def add_arguments(parser: Any) -> None:
    parser.add_argument("queue", help="the queue whose waiting jobs move (queued, scheduled, waiting for a retry)")
    parser.add_argument("--to", metavar="BACKEND", help="move them all to this backend (default: where each one's route says)")
    parser.add_argument("--task", metavar="NAME", help="only the jobs of this task (dotted name)")
    parser.add_argument("--dry-run", action="store_true", help="say what would move; move nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def handle(command: Any, options: dict[str, Any]) -> None:
    try:
        report = move(options["queue"], to=options["to"], task=options["task"], dry_run=options["dry_run"])
    except MoveError as exc:
        raise CommandError(str(exc)) from None
    command.stdout.write(json.dumps(dataclasses.asdict(report), indent=2) if options["json"] else report.describe())
