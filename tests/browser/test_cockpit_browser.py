"""The cutover cockpit driven in headless Chromium as an operator would: log in, move the
validation queue to the candidate, watch a dispatch made by another process land there
without reloading, be refused by the interlock with the candidate's workers stopped, force
the change with a reason and find it audited; and a staff user without permissions gets 403."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from taskbridge import conf
from taskbridge.handle import TaskHandle
from taskbridge.models import RouteChange
from taskbridge.states import TaskStatus
from taskbridge.testing import wait_for
from tests.support.workers import wait_for_rq

from .conftest import ROOT

QUEUE = "validation"
PERMISSIONS = ("taskbridge.view_cutover", "taskbridge.view_routechange", "waffle.change_flag", "waffle.view_flag")

pytestmark = pytest.mark.integration


def _user(username: str, *perms: str) -> None:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))


def _log_in(browser, server, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(server.url + "/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: "/admin/login/" not in b.current_url)


def _section(browser):
    return browser.find_element(By.ID, f"tb-queue-{QUEUE}")


def _cell(browser, backend: str, column: str) -> str:
    """The text of one cell of the queue's live table, found by its column title."""
    section = _section(browser)
    titles = [th.get_attribute("textContent") for th in section.find_elements(By.CSS_SELECTOR, "thead th")]
    row = section.find_element(By.CSS_SELECTOR, f"tbody tr[data-backend='{backend}']")
    return row.find_elements(By.TAG_NAME, "td")[titles.index(column)].get_attribute("textContent")


def _until(browser, predicate, timeout: float = 30, message: str = ""):
    return WebDriverWait(browser, timeout, poll_frequency=0.2, ignored_exceptions=(Exception,)).until(predicate, message)


def _dispatch_from_another_process(worker_env: dict[str, str]) -> TaskHandle:
    script = (
        "import django; django.setup()\n"
        "from reports.tasks import validate_report_configuration\n"
        "print(validate_report_configuration.enqueue({'title': 'cockpit'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=worker_env, capture_output=True, text=True, timeout=60, check=True)
    return TaskHandle.from_string(done.stdout.strip().splitlines()[-1])


def _review_and_confirm(browser, target: str, percent: str = "", reason: str = "") -> None:
    section = _section(browser)
    section.find_element(By.CSS_SELECTOR, f"input[name=target][value={target}]").click()
    if percent:
        field = section.find_element(By.CSS_SELECTOR, "input[name=percent]")
        field.clear()
        field.send_keys(percent)
    section.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys(reason)
    section.find_element(By.CSS_SELECTOR, "button[name=review]").click()
    _until(browser, lambda b: b.find_element(By.ID, "tb-review"), 10)


def test_an_operator_moves_validation_watches_it_live_and_is_stopped_by_the_interlock(
    cockpit_server, browser, workers, worker_env, artifacts, redis_conn,
):
    redis_conn.delete("taskbridge:guard:lease", "taskbridge:guard:state")  # what a guard test before this left
    _user("operator", *PERMISSIONS)
    _log_in(browser, cockpit_server, "operator")

    # Findable: from the admin index to the cockpit.
    browser.get(cockpit_server.url + "/admin/")
    browser.find_element(By.CSS_SELECTOR, "a[href='/admin/taskbridge/cutover/']").click()
    _until(browser, lambda b: _cell(b, conf.candidate(), "live workers (host:pid, queues)") != "no live worker",
           message="the candidate's worker never showed")
    # The guard's column and line: no guard runs here, and the page says so plainly.
    assert _cell(browser, conf.candidate(), "guard window") == "guard not running"
    assert _section(browser).find_element(By.CSS_SELECTOR, "[data-field=verdict]").text == "guard not running"

    # Move validation to the candidate from the cockpit: review says what changes, then confirm.
    _review_and_confirm(browser, "candidate", reason="validation to the candidate")
    review = browser.find_element(By.ID, "tb-review").text
    assert "New dispatches to the candidate: 0% → 100%" in review and "Backlog kept" in review
    browser.find_element(By.CSS_SELECTOR, "input[name=confirm]").click()
    _until(browser, lambda b: _section(b).find_element(By.CSS_SELECTOR, "[data-field=route]").text == conf.candidate())
    assert "validation to the candidate" in _section(browser).find_element(By.CSS_SELECTOR, "[data-field=last]").text

    # A dispatch from another process lands on the candidate; the page shows it without a reload.
    browser.execute_script("window.tbNotReloaded = true;")
    before = int(_cell(browser, conf.candidate(), "succeeded"))
    handle = _dispatch_from_another_process(worker_env)
    assert handle.backend == conf.candidate()
    assert wait_for(handle) == TaskStatus.SUCCEEDED
    _until(browser, lambda b: int(_cell(b, conf.candidate(), "succeeded")) > before, message="the page never showed the job")
    assert browser.execute_script("return window.tbNotReloaded === true;")
    browser.execute_script("arguments[0].scrollIntoView()", _section(browser))
    browser.save_screenshot(str(artifacts / "cockpit.png"))

    # The candidate's workers stopped: a canary (which needs both backends) is refused ...
    workers["rq"].stop()
    try:
        _until(browser, lambda b: _cell(b, conf.candidate(), "live workers (host:pid, queues)") == "no live worker",
               message="the stopped worker still shows")
        _review_and_confirm(browser, "canary", percent="50", reason="")
        browser.find_element(By.CSS_SELECTOR, "input[name=confirm]").click()
        refused = _until(browser, lambda b: b.find_element(By.ID, "tb-refused"), 10).text
        assert f"no live {conf.candidate()} worker consumes queue '{QUEUE}'" in refused
        assert RouteChange.objects.filter(queue=QUEUE).first().to_route == conf.candidate()
        browser.save_screenshot(str(artifacts / "cockpit-refused.png"))

        # ... until forced with a reason, which is audited.
        browser.find_element(By.ID, "id_force").click()
        browser.find_element(By.ID, "id_reason").send_keys("drill: workers restarting")
        browser.find_element(By.CSS_SELECTOR, "input[name=confirm]").click()
        _until(browser, lambda b: "FORCED" in _section(b).find_element(By.CSS_SELECTOR, "[data-field=last]").text)
        change = RouteChange.objects.filter(queue=QUEUE).first()
        assert (change.to_route, change.forced, change.origin, change.reason, change.changed_by.username) == (
            f"{conf.candidate()} 50%", True, "cockpit", "drill: workers restarting", "operator",
        )
    finally:
        workers["rq"].start()
        wait_for_rq(workers["rq"], settings.REDIS_URL)


def test_a_staff_user_without_permissions_gets_403(cockpit_server, browser):
    _user("clerk")
    _log_in(browser, cockpit_server, "clerk")
    browser.get(cockpit_server.url + "/admin/taskbridge/cutover/")
    assert "403" in browser.title or "Forbidden" in browser.page_source
    assert not browser.find_elements(By.ID, "tb-cockpit")
    browser.get(cockpit_server.url + "/admin/taskbridge/cutover/live.json")
    assert "Forbidden" in browser.page_source or "403" in browser.page_source
