"""Watch every canary live and roll a regressing queue back to the baseline by itself; advance ramps."""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

from ..guard.config import GuardConfig
from ..guard.loop import Guard


def add_arguments(parser: Any) -> None:
    parser.add_argument("--interval", type=float, help="seconds between looks (default: TASKBRIDGE['GUARD']['INTERVAL'] or 2)")
    parser.add_argument("--window", type=float, help="seconds of candidate events judged (default 120)")
    parser.add_argument("--once", action="store_true", help="one look, print the state as JSON, exit")


def handle(command: Any, options: dict[str, Any]) -> None:
    try:
        config = GuardConfig.from_settings(interval=options["interval"], window=options["window"])
    except (TypeError, ValueError) as error:
        from django.core.management import CommandError

        raise CommandError(str(error)) from None
    guard = Guard(config, say=command.stdout.write)
    if options["once"]:
        state = guard.tick()
        if guard.active:
            guard.lease.release()
        command.stdout.write(json.dumps(state, indent=2, default=str))
        return
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    command.stdout.write(f"guard {guard.lease.token}: every {config.interval:g}s, window {config.window:g}s, confidence {config.confidence}")
    guard.run(stop)
