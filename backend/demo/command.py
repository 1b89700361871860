"""Run the staged Celery → RQ cutover of the reference workload, end to end, on this machine.

``python manage.py taskbridge demo`` needs nothing installed beyond the
Python requirements: it uses ``REDIS_URL`` when that answers, otherwise an
embedded redis-server; a throw-away SQLite database; and it starts the same
processes the Procfile lists (web, Celery worker, Celery beat, RQ worker with
scheduler, RQ scheduler, reconciler, guard). The orchestration itself runs in a child process
(``--_inner``) so that it, like every worker, loads the settings with the
demo's environment; this process only prepares, supervises and cleans up.
"""

from __future__ import annotations

import argparse
import sys

from . import supervise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--short", action="store_true",
                        help="a quick run with few jobs per stage (about 1.5 minutes); for tests and a first look")
    parser.add_argument("--actions", type=int, default=None, metavar="N",
                        help="user actions per stage (default 40, --short 10; the last stage at least 30); "
                             "each causes one or more jobs")
    parser.add_argument("--queue", default="notebook_processing",
                        help="the queue taken through canary, full RQ, both rollbacks (default notebook_processing)")
    parser.add_argument("--percent", type=int, default=25, help="canary share of that queue on RQ (default 25)")
    parser.add_argument("--out", default="demo-out", metavar="DIR",
                        help="where the HTML report, summary.json, the event log and process logs go (default ./demo-out)")
    parser.add_argument("--serve", action="store_true",
                        help="afterwards keep the web server and workers running, with an admin login, until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000, help="web server port (default 8000; a free one if taken)")
    parser.add_argument("--rq-workers", type=int, default=2, metavar="N",
                        help="RQ worker processes (default 2, matching the Celery worker's -c 2)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the throw-away database and media directory")
    parser.add_argument("--_inner", action="store_true", help=argparse.SUPPRESS)


def handle(command, options) -> None:
    if options["_inner"]:
        from . import runner

        code = runner.main(options)
    else:
        code = supervise.main(options)
    sys.stdout.flush()
    if code:
        sys.exit(code)
