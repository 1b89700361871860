from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings

from tests.support.events import EventLog
from tests.support.workers import WorkerProcess, celery_worker_command, rq_worker_command, wait_for_celery, wait_for_rq

pytest_plugins = ["tests.support.domain"]

# backlog and isolated: queues only the workers a test starts itself consume (backend/settings/test.py).
ALL_QUEUES = [name for name in settings.TASKBRIDGE["QUEUES"] if name not in ("backlog", "isolated")]


def set_route(queue: str, everyone: bool | None = None, percent: float | None = None, task: str | None = None) -> None:
    """taskbridge's own ``set_route``, spoken in the waffle Flag's fields (Everyone Yes / No /
    Unknown with a Percent), which is how the parametrized tests name a route."""
    from taskbridge import set_route as route

    route(queue, {True: "candidate", False: "baseline"}.get(everyone, percent), task=task)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return settings.REDIS_URL


@pytest.fixture
def redis_conn(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture(scope="session")
def event_log() -> EventLog:
    return EventLog(os.environ["TASKBRIDGE_EVENT_LOG"])


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def worker_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """The environment worker processes run with: the test database, Redis, event log."""
    with django_db_blocker.unblock():
        url = _database_url()
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "backend.settings.test", "PYTHONUNBUFFERED": "1"}


def start_workers(worker_env: dict[str, str], tmp: Path, name: str, queues: list[str] = ALL_QUEUES) -> tuple[WorkerProcess, WorkerProcess]:
    celery = WorkerProcess("celery", celery_worker_command(queues, name=name), worker_env, tmp / f"{name}-celery.log", name=name)
    rq = WorkerProcess("rq", rq_worker_command(queues, name=f"{name}-rq"), worker_env, tmp / f"{name}-rq.log", name=f"{name}-rq")
    celery.start()
    rq.start()
    try:
        wait_for_celery(celery, settings.REDIS_URL)
        wait_for_rq(rq, settings.REDIS_URL)
    except Exception:
        celery.stop()
        rq.stop()
        raise
    return celery, rq


@pytest.fixture(scope="session")
def workers(worker_env, tmp_path_factory):
    """One real Celery worker and one real RQ worker (with its scheduler) on every queue."""
    celery, rq = start_workers(worker_env, tmp_path_factory.mktemp("workers"), "session")
    yield {"celery": celery, "rq": rq}
    celery.stop()
    rq.stop()
