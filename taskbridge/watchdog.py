"""One daemon thread per process for the jobs it runs: renews their leases, enforces hard limits.

A job's lease (:class:`taskbridge.ledger.Lease`) must be renewed while it runs,
and a task that swallows its timeout exception must still be killed once it is
``timeout + HARD_TIMEOUT_GRACE + 1`` seconds in. A thread per job for each
(a renewal thread and a ``threading.Timer``) cost two thread starts and joins
for every job, about a millisecond on a busy 2-core machine. This thread is
started once per process (again after a fork: threads do not survive one, so an
RQ work horse or a Celery pool process starts its own), wakes every sixth of a
lease's lifetime to renew every lease held here in one pipeline, and otherwise
only at the earliest hard-limit deadline. Taking and giving back a lease is a
dictionary update under a lock.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from .ledger import Lease


@dataclass(slots=True)
class _Held:
    lease: Lease
    kill_at: float | None  # time.monotonic() past which this process is killed


class Watchdog:
    """The leases this process holds, by lease key (see the module's docstring)."""

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

    def hold(self, lease: Lease, kill_after: float | None) -> None:
        """Renew ``lease`` until :meth:`release`; kill this process ``kill_after`` seconds
        from now unless :meth:`release` comes first."""
        if not self._running:
            with self._starting:
                if not self._running:
                    threading.Thread(target=self._loop, name="taskbridge-watchdog", daemon=True).start()
                    self._running = True
        kill_at = time.monotonic() + kill_after if kill_after is not None else None
        with self._wake:
            self._held[lease.key] = _Held(lease, kill_at)
            if kill_at is not None and kill_at < self._wake_at:
                self._wake.notify()

    def release(self, lease: Lease) -> None:
        with self._wake:
            self._held.pop(lease.key, None)

    def _loop(self) -> None:
        wake = self._wake
        while True:
            with wake:
                now = time.monotonic()
                period = min((h.lease.ms / 6000 for h in self._held.values()), default=1.0)
                deadlines = [h.kill_at for h in self._held.values() if h.kill_at is not None]
                self._wake_at = min([now + period, *deadlines])
                wake.wait(max(0.0, self._wake_at - now))
                self._wake_at = float("inf")
                now = time.monotonic()
                if any(h.kill_at is not None and h.kill_at <= now for h in self._held.values()):
                    os.kill(os.getpid(), signal.SIGKILL)
                leases = [h.lease for h in self._held.values()]
            if not leases:
                continue
            try:
                with leases[0].ledger.conn.pipeline(transaction=False) as pipe:
                    for lease in leases:
                        lease.ledger._renew(keys=[lease.key], args=[lease.token, lease.ms], client=pipe)
                    pipe.execute()
            except redis.RedisError:
                pass  # the next renewal tries again; the lease outlives a few misses


watchdog = Watchdog()
