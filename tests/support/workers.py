"""Real worker processes, started with the commands docs/operations.md gives an operator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def celery_worker_command(queues: list[str], concurrency: int = 2, name: str = "tb") -> list[str]:
    return [str(BIN / "celery"), "-A", "backend", "worker", "-Q", ",".join(queues), "-c", str(concurrency),
            "-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle"]


def rq_worker_command(queues: list[str], name: str | None = None) -> list[str]:
    command = [sys.executable, "manage.py", "rqworker", "--with-scheduler", *queues]
    return command + (["--name", name] if name else [])


@dataclass
class WorkerProcess:
    kind: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    name: str = ""
    extra: dict = field(default_factory=dict)

    def start(self) -> WorkerProcess:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for_celery(worker: WorkerProcess, redis_url: str, timeout: float = 60) -> None:
    """Ready once the worker answers a ping over the broker."""
    from celery import current_app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"celery worker exited:\n{worker.log()[-3000:]}")
        replies = current_app.control.ping(timeout=0.5)
        if any(worker.name in name for reply in replies for name in reply):
            return
    raise RuntimeError(f"celery worker did not come up:\n{worker.log()[-3000:]}")


def wait_for_rq(worker: WorkerProcess, redis_url: str, timeout: float = 60) -> None:
    """Ready once the worker has registered itself in Redis."""
    from rq import Worker

    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"rq worker exited:\n{worker.log()[-3000:]}")
        if any(w.name == worker.name for w in Worker.all(connection=connection)):
            return
        time.sleep(0.1)
    raise RuntimeError(f"rq worker did not come up:\n{worker.log()[-3000:]}")
