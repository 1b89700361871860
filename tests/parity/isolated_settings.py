"""Settings for the parity matrix's own, killable workers (tests/test_parity.py).

The session's workers consume every queue in ``TASKBRIDGE["QUEUES"]``; these
workers consume only ``parity_isolated``, a queue the session's settings do
not have, so a job sent there can only land on a worker the test may kill.
Leases are short so that a dead worker is noticed within a couple of seconds.
"""

from backend.settings.test import *  # noqa: F403
from taskbridge.backends.rq.config import rq_queues

ISOLATED_QUEUE = "parity_isolated"

TASKBRIDGE = {  # noqa: F405
    **TASKBRIDGE,  # noqa: F405
    "QUEUES": {**TASKBRIDGE["QUEUES"], ISOLATED_QUEUE: {"timeout": 60}},  # noqa: F405
    "LEASE_SECONDS": 2,
}
RQ_QUEUES = rq_queues(TASKBRIDGE["QUEUES"], REDIS_URL)  # noqa: F405
