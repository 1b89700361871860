"""Run the reconciler: every job ends once or fails visibly, dead workers are noticed (docs/reliability.md)."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.module_loading import autodiscover_modules

from ..reconcile import Reconciler


def add_arguments(parser: Any) -> None:
    parser.add_argument("--once", action="store_true", help="one pass (if no other reconciler is active), then exit")


def handle(command: Any, options: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    autodiscover_modules("tasks")  # to send a lost job again, its task must be declared here
    reconciler = Reconciler()
    command.stdout.write(f"reconciler {reconciler.name} running")
    try:
        reconciler.run(once=options["once"])
    except KeyboardInterrupt:
        pass
