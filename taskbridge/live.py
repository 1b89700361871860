"""The cockpit's live figures, gathered off the request path.

Celery reports its workers only through an inspect broadcast that waits up to a
second, and the ledger scan grows with the number of job records, so neither may
run while the cockpit page or its JSON answers (they must within 300 ms). Instead,
a refresher thread in each web process that serves the cockpit recomputes
:func:`taskbridge.cutover.figures` every :data:`INTERVAL` seconds and writes them
to Redis (:data:`KEY`, expiring after :data:`STALE_AFTER`); a request reads that
one key. A Redis lock (:data:`LOCK`) lets one process refresh per interval however
many web processes there are, and a refresher stops once no request has read the
figures for :data:`IDLE_AFTER` seconds, so nothing is broadcast while nobody watches.
Figures are therefore up to about ``INTERVAL`` + one broadcast old; the page shows
their age.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis

from .cutover import Figures, figures
from .redis import connection

KEY = "taskbridge:cockpit:figures"
LOCK = "taskbridge:cockpit:refreshing"
INTERVAL = 1.0
STALE_AFTER = 30
IDLE_AFTER = 60.0

log = logging.getLogger(__name__)


class Refresher:
    """This process's refresher thread, started by the first read and ended by idleness."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_read = 0.0

    def touch(self) -> None:
        """A reader is here: make sure the thread runs."""
        self._last_read = time.monotonic()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="taskbridge-cockpit-refresher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        conn = connection()
        while time.monotonic() - self._last_read < IDLE_AFTER:
            started = time.monotonic()
            try:
                leading = conn.set(LOCK, "1", nx=True, px=int(INTERVAL * 1000))
            except redis.ConnectionError:
                return
            if leading:
                try:
                    refresh()
                except redis.ConnectionError:
                    log.warning("taskbridge cockpit: Redis is unreachable; the refresher stops until the next read")
                    return
                except Exception:  # a refresh that fails leaves the last figures to go stale, visibly
                    log.exception("taskbridge cockpit: refreshing the figures failed")
            time.sleep(max(0.05, INTERVAL - (time.monotonic() - started)))


refresher = Refresher()


def refresh() -> Figures:
    """Compute the figures now and publish them for every web process."""
    found = figures()
    connection().set(KEY, json.dumps(found.to_dict()), ex=STALE_AFTER)
    return found


def current() -> Figures | None:
    """The latest published figures (``None`` until the first refresh), keeping a refresher running."""
    refresher.touch()
    raw = connection().get(KEY)
    return Figures.from_dict(json.loads(raw)) if raw else None
