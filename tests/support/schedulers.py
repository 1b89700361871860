"""Real scheduler processes, started with the commands docs/periodic.md gives an operator."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import redis

from tests.support.workers import BIN, WorkerProcess


def celery_beat_command(state_dir: Path) -> list[str]:
    """``celery -A backend beat`` with its state file (last run per entry) in ``state_dir``."""
    return [str(BIN / "celery"), "-A", "backend", "beat", "-l", "info",
            "-s", str(state_dir / "celerybeat-schedule"), "--pidfile", str(state_dir / "celerybeat.pid")]


def rq_scheduler_command(interval: float = 0.5, name: str | None = None) -> list[str]:
    """``manage.py taskbridge scheduler``: schedule-sync, then rq-scheduler's loop."""
    command = [sys.executable, "manage.py", "taskbridge", "scheduler", "--interval", str(interval)]
    return command + (["--name", name] if name else [])


def wait_for_beat(beat: WorkerProcess, timeout: float = 30) -> None:
    """Ready once beat logs that it started (it has loaded the schedule by then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not beat.alive():
            raise RuntimeError(f"celery beat exited:\n{beat.log()[-3000:]}")
        if "beat: Starting..." in beat.log():
            return
        time.sleep(0.1)
    raise RuntimeError(f"celery beat did not come up:\n{beat.log()[-3000:]}")


def wait_for_rq_scheduler(scheduler: WorkerProcess, redis_url: str, name: str, timeout: float = 30) -> None:
    """Ready once the scheduler registered its birth in Redis (schedule-sync ran before that)."""
    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scheduler.alive():
            raise RuntimeError(f"rq scheduler exited:\n{scheduler.log()[-3000:]}")
        if connection.exists(f"rq:scheduler_instance:{name}"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"rq scheduler did not come up:\n{scheduler.log()[-3000:]}")
