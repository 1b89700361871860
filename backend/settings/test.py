"""Settings for the test suite. tests/plugin.py points REDIS_URL, MEDIA_ROOT and
the event log at the session's own redis-server and scratch directory."""

import os

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]  # noqa: F405

# Worker processes must see the rows the tests write, so the SQLite test
# database is a file (not pytest-django's in-memory default).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TASKBRIDGE_TEST_SQLITE", str(BASE_DIR / ".test-db.sqlite3"))}  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}  # noqa: F405

# parity: a short timeout, for the parity matrix's "queue timeout applies" case.
# backlog: only tests/test_move.py's own workers consume it, so a test can stop one backend's
# workers on it; a route change moves its backlog.
# isolated: only the workers a test starts itself consume it (the custody tests kill them), so the
# session's workers never take a job meant for them.
TASKBRIDGE = {  # noqa: F405
    **TASKBRIDGE,  # noqa: F405
    "QUEUES": {
        **TASKBRIDGE["QUEUES"],  # noqa: F405
        "parity": {"timeout": 3},
        "backlog": {"timeout": 60, "backlog": "move"},
        "isolated": {"timeout": 300},
    },
}
# Flags are read in the caller's thread, where a test's own (uncommitted) flags are visible;
# tests of the bounded read set a limit (taskbridge.flagread).
TASKBRIDGE["FLAG_READ_TIMEOUT"] = None
RQ_QUEUES = rq_queues(TASKBRIDGE["QUEUES"], REDIS_URL)  # noqa: F405

# Tests that start their own Celery beat / RQ scheduler hand them a schedule
# through the environment (JSON, the shape of TASKBRIDGE["SCHEDULE"]).
if os.environ.get("TASKBRIDGE_TEST_SCHEDULE"):
    import json

    TASKBRIDGE = {**TASKBRIDGE, "SCHEDULE": json.loads(os.environ["TASKBRIDGE_TEST_SCHEDULE"])}  # noqa: F405

# URL ingestion's guard stays on; the one exception is the tests' own local
# site (tests.support.domain.LocalSite), on the port tests/plugin.py chose.
NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = [f"127.0.0.1:{os.environ['TASKBRIDGE_TEST_SITE_PORT']}"] if os.environ.get("TASKBRIDGE_TEST_SITE_PORT") else []
