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
