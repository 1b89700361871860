"""Shared set-up for the benchmarks: a private redis-server and a throw-away database."""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare(settings_module: str = "backend.settings.dev") -> str:
    """Point this process (and children inheriting its environment) at a fresh Redis and
    SQLite file, then set Django up and migrate. Returns the Redis URL."""
    sys.path.insert(0, str(ROOT))
    from tests.support.redis_server import start_redis

    scratch = Path(tempfile.mkdtemp(prefix="taskbridge-bench-"))
    if not os.environ.get("REDIS_URL"):
        server = start_redis()
        atexit.register(server.stop)
        os.environ["REDIS_URL"] = server.url
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    os.environ["TASKBRIDGE_EVENT_LOG"] = str(scratch / "events.log")
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return os.environ["REDIS_URL"]
