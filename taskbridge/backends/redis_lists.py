"""Removing given entries from a Redis list, for backends that keep their queues in one.

``LREM`` scans the whole list for each entry it removes: moving 10,000 jobs
out of a 10,000-long queue that way is 10^8 comparisons. This script drops a
batch of entries in one pass, atomically, keeping the order of the rest (a
worker popping the list meanwhile sees it before or after, never half done).
"""

from __future__ import annotations

from typing import Sequence

import redis

# KEYS[1] list; ARGV: entries to drop. Returns how many were dropped.
_DROP = """
local drop = {}
for i = 1, #ARGV do drop[ARGV[i]] = true end
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local kept = {}
for i = 1, #entries do
  if not drop[entries[i]] then kept[#kept + 1] = entries[i] end
end
local dropped = #entries - #kept
if dropped == 0 then return 0 end
redis.call('DEL', KEYS[1])
for i = 1, #kept, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept)))
end
return dropped
"""


def drop(conn: redis.Redis, list_key: str, entries: Sequence[bytes | str]) -> int:
    """Remove every entry in ``entries`` from the list at ``list_key``; returns how many went."""
    if not entries:
        return 0
    return int(conn.eval(_DROP, 1, list_key, *entries))
