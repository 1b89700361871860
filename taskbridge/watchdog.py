"""One daemon thread per process for the jobs it runs: renews their leases, enforces hard limits.

A job's lease (:mod:`taskbridge.ledger`) must be renewed while it runs, and a
task that swallows its timeout exception must still be killed once it is
``timeout + HARD_TIMEOUT_GRACE + 1`` seconds in. Both used to be a thread per
job (a renewal thread and a ``threading.Timer``): two thread starts and joins
for every job, about a millisecond on a busy 2-core machine. This thread is
started once per process (again after a fork: threads do not survive one, so
an RQ work horse or a Celery pool process starts its own), wakes every sixth of
a lease's lifetime to renew every lease held here, and otherwise only at the
earliest hard-limit deadline. Taking and giving back a lease is a dictionary
update under a lock; the thread is woken only when a new deadline is earlier
than its next wake-up.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import redis

from .ledger import ledger, lease_key, lease_seconds


@dataclass(slots=True)
class _Held:
    attempt: int
    kill_at: float | None  # time.monotonic() past which this process is killed


class Watchdog:
    """The jobs this process is running, by job id (see the module's docstring)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Fresh locks and table in a forked child: the parent's may have been copied while held.
        self._held: dict[str, _Held] = {}
        self._wake = threading.Condition()
        self._wake_at = float("inf")
        self._starting = threading.Lock()
        self._running = False

    def hold(self, job_id: str, attempt: int, kill_after: float | None) -> None:
        """``job_id`` runs here now (its lease was taken with its start); kill this process
        ``kill_after`` seconds from now unless :meth:`release` comes first."""
        if not self._running:
            with self._starting:
                if not self._running:
                    threading.Thread(target=self._loop, name="taskbridge-watchdog", daemon=True).start()
                    self._running = True
        kill_at = time.monotonic() + kill_after if kill_after is not None else None
        with self._wake:
            self._held[job_id] = _Held(attempt, kill_at)
            if kill_at is not None and kill_at < self._wake_at:
                self._wake.notify()

    def release(self, job_id: str) -> None:
        with self._wake:
            self._held.pop(job_id, None)

    def _loop(self) -> None:
        wake = self._wake
        while True:
            lifetime = lease_seconds()
            period, lease_ms = lifetime / 6, max(1, int(lifetime * 1000))
            with wake:
                now = time.monotonic()
                deadlines = [h.kill_at for h in self._held.values() if h.kill_at is not None]
                self._wake_at = min([now + period, *deadlines])
                wake.wait(max(0.0, self._wake_at - now))
                self._wake_at = float("inf")
                now = time.monotonic()
                if any(h.kill_at is not None and h.kill_at <= now for h in self._held.values()):
                    os.kill(os.getpid(), signal.SIGKILL)
                held = {job_id: h.attempt for job_id, h in self._held.items()}
            if not held:
                continue
            try:
                with ledger().conn.pipeline(transaction=False) as pipe:
                    for job_id, attempt in held.items():
                        pipe.set(lease_key(job_id), attempt, px=lease_ms, xx=True)  # renew, never resurrect
                    pipe.execute()
            except redis.RedisError:
                pass  # the next renewal tries again; the lease outlives a few misses


watchdog = Watchdog()
