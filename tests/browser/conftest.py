"""A real browser for the cockpit's tests: Debian's chromium, headless, driven through
chromium-driver by Selenium, against Django's live server on 127.0.0.1 only.
Screenshots go to ``artifacts/`` (CI keeps them), or ``$TASKBRIDGE_ARTIFACTS``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {names} is installed: apt-get install chromium chromium-driver (.ci/run does)")


@pytest.fixture
def cockpit_server(transactional_db):
    """Django's live server, listening on the loopback address only."""
    server = LiveServer("127.0.0.1:0")
    server._live_server_modified_settings.enable()
    try:
        yield server
    finally:
        server._live_server_modified_settings.disable()
        server.stop()


@pytest.fixture(scope="session")
def _chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1300"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(_binary("chromedriver", "chromium-driver")), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def browser(_chromium, cockpit_server):
    """The session's browser, left on a blank page after each test so that no page of a
    stopped live server keeps polling."""
    yield _chromium
    _chromium.get("about:blank")


@pytest.fixture
def artifacts() -> Path:
    path = Path(os.environ.get("TASKBRIDGE_ARTIFACTS", ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
