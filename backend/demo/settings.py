"""Settings every process of the demo runs with: the development settings, made quick.

The demo's supervisor sets ``DJANGO_SETTINGS_MODULE`` to this module (with
``REDIS_URL``, ``DATABASE_URL``, ``MEDIA_ROOT`` and ``TASKBRIDGE_EVENT_LOG``)
for itself and every child process, so the web server, both worker sets and
both schedulers agree. What differs from ``backend.settings.dev``:

* the periodic clean-ups tick every ``TASKBRIDGE_DEMO_PERIOD`` seconds
  instead of daily, so both schedulers have ticks to hand over during a stage;
* the guard looks every second instead of every two;
* the workload's artificial delays (polling countdowns, generation steps)
  are shortened, so a stage takes seconds;
* SQLite is set up for several writing processes (WAL, immediate
  transactions, a generous busy timeout);
* URL ingestion's address guard lets through one loopback address: the
  demo's own local site, on the port the supervisor chose
  (``TASKBRIDGE_DEMO_SITE_PORT``).
"""

import os

from backend.settings.dev import *  # noqa: F403

ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {  # noqa: F405
        "timeout": 60,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEMO_PERIOD = int(os.environ.get("TASKBRIDGE_DEMO_PERIOD", "6"))

TASKBRIDGE = {  # noqa: F405
    **TASKBRIDGE,  # noqa: F405
    "SCHEDULE": {
        name: {**{key: value for key, value in entry.items() if key not in ("every", "cron")}, "every": DEMO_PERIOD}
        for name, entry in TASKBRIDGE["SCHEDULE"].items()  # noqa: F405
    },
    # The guard looks every second, so its rollback in stage 5 shows within a stage.
    "GUARD": {**TASKBRIDGE.get("GUARD", {}), "INTERVAL": 1.0},  # noqa: F405
}

# The workload's pace: the local stand-ins for TTS, report writing, the knowledge
# index and flaky web sites, made quick.
PODCAST_STEP_DELAY = 0.05
REPORTS_STEP_DELAY = 0.05
NOTEBOOKS_FETCH_RETRY_COUNTDOWN = 1
NOTEBOOKS_FETCH_TIMEOUT = 5
NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = (
    [f"127.0.0.1:{os.environ['TASKBRIDGE_DEMO_SITE_PORT']}"] if os.environ.get("TASKBRIDGE_DEMO_SITE_PORT") else []
)
KNOWLEDGE_INDEX_POLL_COUNTDOWN = 1
KNOWLEDGE_INDEX_POLLS_TO_DONE = 2

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
