"""Start, pause, resume or show a queue's progressive ramp (the guard advances it)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management import CommandError

from ..errors import RouteError
from ..guard import ramp as ramps
from ..guard.state import snapshot
from ..models import RouteChange


def add_arguments(parser: Any) -> None:
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    start = actions.add_parser("start", help="route the first step now; the guard takes it from there")
    start.add_argument("queue")
    start.add_argument("steps", help="candidate shares in percent, rising, e.g. 5,25,50,100")
    start.add_argument("--hold", type=float, default=600.0, metavar="SECONDS", help="least time per step (default 600)")
    start.add_argument("--jobs", type=int, default=100, metavar="N", help="least jobs finished on the candidate per step (default 100)")
    start.add_argument("--reason", default="", help="why, kept in the ramp and its first step's audit row")
    for name in ("pause", "resume"):
        actions.add_parser(name, help=f"{name} the ramp of QUEUE").add_argument("queue")
    show = actions.add_parser("show", help="guard verdict and ramp per queue")
    show.add_argument("--json", action="store_true")


def handle(command: Any, options: dict[str, Any]) -> None:
    action = options["action"]
    try:
        if action == "start":
            ramp = ramps.start(options["queue"], options["steps"], hold_seconds=options["hold"], hold_jobs=options["jobs"], origin=RouteChange.Origin.COMMAND,
                                reason=options["reason"])
        elif action == "pause":
            ramp = ramps.pause(options["queue"])
        elif action == "resume":
            ramp = ramps.resume(options["queue"], origin=RouteChange.Origin.COMMAND)
        else:
            _show(command, options["json"])
            return
    except RouteError as error:
        raise CommandError(str(error)) from None
    command.stdout.write(str(ramp))


def _show(command: Any, as_json: bool) -> None:
    view = snapshot()
    if as_json:
        command.stdout.write(json.dumps(view, indent=2))
        return
    guard = view["guard"]
    command.stdout.write(f"guard: {'active (' + str(guard['holder']) + ')' if guard['active'] else 'not running'}")
    for queue, row in view["queues"].items():
        ramp = row["ramp"]
        plan = f"ramp {ramp['state']} step {ramp['step']}/{len(ramp['steps'])}" if ramp else "no ramp"
        command.stdout.write(f"{queue:<22}{row['route']:<18}{row['verdict'] or '-':<20}{plan}")
