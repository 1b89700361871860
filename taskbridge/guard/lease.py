"""One active guard at a time: a Redis key holding the active guard's token, renewed each tick.

A second guard (a second Procfile process, a deploy overlap) waits as a
standby and takes over within ``lease_seconds`` of the active one stopping.
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

KEY = "taskbridge:guard:lease"

# Renew only our own lease: a guard that paused past its lease must not extend another's.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, conn: redis.Redis, seconds: float) -> None:
        self.conn = conn
        self.millis = int(seconds * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = conn.register_script(_RENEW)
        self._release = conn.register_script(_RELEASE)

    def hold(self) -> bool:
        """Take the lease if free, or renew it if ours; True while this guard is the active one."""
        if self._renew(keys=[KEY], args=[self.token, self.millis]):
            return True
        return bool(self.conn.set(KEY, self.token, nx=True, px=self.millis))

    def release(self) -> None:
        self._release(keys=[KEY], args=[self.token])

    def holder(self) -> str | None:
        value = self.conn.get(KEY)
        return value.decode() if value else None
