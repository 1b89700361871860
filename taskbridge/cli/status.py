"""Show each queue's route, its jobs by state on each backend, and the live workers."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from ..cutover import snapshot


def add_arguments(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")


def handle(command: Any, options: dict[str, Any]) -> None:
    view = snapshot()
    if options["json"]:
        command.stdout.write(json.dumps(asdict(view), indent=2))
        return
    header = f"{'queue':<22}{'route':<18}{'backend':<8}{'queued':>8}{'sched':>7}{'running':>9}{'retry':>7}{'ok':>8}{'failed':>8}{'cancel':>8}{'backlog':>8}  workers"
    command.stdout.write(header)
    for queue in view.queues:
        for index, (backend, data) in enumerate(queue.backends.items()):
            c = data.counts
            command.stdout.write(
                f"{queue.queue if index == 0 else '':<22}{queue.route if index == 0 else '':<18}{backend:<8}"
                f"{c['queued']:>8}{c['scheduled']:>7}{c['started']:>9}{c['retrying']:>7}{c['succeeded']:>8}"
                f"{c['failed']:>8}{c['cancelled']:>8}{data.backlog:>8}  {', '.join(w.label for w in data.workers) or '-'}"
            )
        if queue.last_move is not None or queue.backlog_policy != "keep":
            command.stdout.write(
                f"{'':<22}backlog on a route change: {queue.backlog_policy}; last move: {queue.last_move_text}"
            )
    command.stdout.write(f"({view.jobs_scanned} job records read in {view.seconds:.2f}s)")
