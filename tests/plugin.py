"""Loaded with ``-p tests.plugin`` (pytest.ini) before pytest-django reads the settings:
starts the session's own redis-server and points every process of the test run
(this one and the workers it starts) at it, at a throw-away database file,
media directory and event log, and choose the port of the local web site the
URL-ingestion tests fetch from (the only loopback address the settings allow)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, start_redis

_server: RedisServer | None = None
_scratch: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    global _server, _scratch
    _scratch = Path(tempfile.mkdtemp(prefix="taskbridge-tests-"))
    _server = start_redis()
    os.environ["REDIS_URL"] = _server.url
    os.environ["TASKBRIDGE_TEST_SQLITE"] = str(_scratch / "test-db.sqlite3")
    os.environ["MEDIA_ROOT"] = str(_scratch / "media")
    os.environ["TASKBRIDGE_EVENT_LOG"] = str(_scratch / "events.log")
    os.environ["TASKBRIDGE_TEST_SITE_PORT"] = str(_free_port())
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.settings.test"


def _free_port() -> int:
    """The port of the local site URL ingestion fetches from, the one address its guard lets through."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
    if _scratch is not None:
        shutil.rmtree(_scratch, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"taskbridge: redis-server at {os.environ.get('REDIS_URL')}, scratch {_scratch}"]
