"""The cutover cockpit in admin, driven with Django's test client: who may see and change
what, the review and confirm of a route change through set_route and the interlock,
the live JSON, the links to the page, and the route-only change form of waffle's flag."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from waffle.models import Flag

from taskbridge import conf, live
from taskbridge.models import RouteChange
from tests.support.domain import staff_client

COCKPIT = "/admin/taskbridge/cutover/"
LIVE = COCKPIT + "live.json"
ROUTE = COCKPIT + "route/"
IDLE = "cockpit-idle"


@pytest.fixture(autouse=True)
def idle_queue(settings):
    """A queue that no worker consumes, whatever workers this test session has started."""
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "QUEUES": {**settings.TASKBRIDGE["QUEUES"], IDLE: {"timeout": 60}}}


@pytest.fixture
def viewer(db):
    return staff_client("viewer", "taskbridge.view_cutover", "taskbridge.view_routechange")


@pytest.fixture
def operator(db):
    return staff_client("operator", "taskbridge.view_cutover", "taskbridge.view_routechange", "waffle.change_flag", "waffle.view_flag")


def _share(queue: str) -> tuple[bool | None, object]:
    flag = Flag.objects.filter(name=conf.queue_flag_name(queue)).first()
    return (flag.everyone, flag.percent) if flag else (None, None)


def test_staff_status_alone_opens_nothing(db):
    clerk = staff_client("clerk")
    assert clerk.get(COCKPIT).status_code == 403
    assert clerk.get(LIVE).status_code == 403
    assert clerk.post(ROUTE, {"queue": IDLE, "target": "candidate", "confirm": "1"}).status_code == 403
    assert clerk.get("/admin/taskbridge/routechange/cutover/").status_code in (301, 302)  # the old address, moved
    assert "/admin/taskbridge/cutover/" not in clerk.get("/admin/").content.decode()


def test_anonymous_users_are_sent_to_login(db):
    response = Client().get(COCKPIT)
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_viewer_sees_the_page_and_its_json_but_cannot_change_a_route(viewer):
    page = viewer.get(COCKPIT)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="tb-queue-{IDLE}"' in html and "Review change" not in html
    assert 'Taskbridge</a> &rsaquo; Cutover cockpit' in html
    data = viewer.get(LIVE).json()
    assert {q["queue"] for q in data["queues"]} == set(conf.queues())
    assert (data["baseline"], data["candidate"]) == (conf.baseline(), conf.candidate())
    assert viewer.post(ROUTE, {"queue": IDLE, "target": "candidate", "confirm": "1"}).status_code == 403
    assert _share(IDLE) == (None, None)


def test_the_cockpit_is_linked_from_the_index_sidebar_and_route_changes_list(viewer):
    index = viewer.get("/admin/").content.decode()
    assert 'href="/admin/taskbridge/cutover/"' in index
    sidebar = viewer.get("/admin/taskbridge/routechange/").content.decode()  # the sidebar lists every app's models
    assert sidebar.count('href="/admin/taskbridge/cutover/"') >= 2  # the sidebar entry and the object-tools link


def test_review_says_what_changes_and_the_interlock_refuses_then_a_forced_change_is_audited(operator):
    review = operator.post(ROUTE, {"queue": IDLE, "target": "canary", "percent": "25", "reason": "canary"})
    assert review.status_code == 200
    text = re.sub(r"\s+", " ", review.content.decode())
    assert "New dispatches to the candidate: <strong>0% → 25%</strong>" in text
    assert "Backlog <strong>kept</strong>" in text
    assert _share(IDLE) == (None, None)  # reviewing changes nothing

    refused = operator.post(ROUTE, {"queue": IDLE, "target": "canary", "percent": "25", "reason": "canary", "confirm": "1"})
    assert refused.status_code == 409
    assert f"no live {conf.candidate()} worker consumes queue" in refused.content.decode()
    assert not RouteChange.objects.filter(queue=IDLE).exists()

    no_reason = operator.post(ROUTE, {"queue": IDLE, "target": "canary", "percent": "25", "force": "on", "confirm": "1"})
    assert no_reason.status_code == 409 and "needs a reason" in no_reason.content.decode()

    forced = operator.post(ROUTE, {"queue": IDLE, "target": "canary", "percent": "25", "force": "on", "reason": "drill", "confirm": "1"})
    assert forced.status_code == 302 and forced["Location"] == COCKPIT
    change = RouteChange.objects.get(queue=IDLE)
    assert (change.origin, change.reason, change.forced, change.changed_by.username) == ("cockpit", "drill", True, "operator")
    assert change.to_route == f"{conf.candidate()} 25%"
    [queue] = [q for q in operator.get(LIVE).json()["queues"] if q["queue"] == IDLE]
    assert queue["route"] == f"{conf.candidate()} 25%" and queue["share"] == 25.0
    last = queue["last_change"]
    assert (last["who"], last["origin"], last["reason"], last["forced"]) == ("operator", "cockpit", "drill", True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", last["when"])  # to the second


def test_bad_route_input_is_refused_with_the_form_again(operator):
    assert operator.post(ROUTE, {"queue": "nosuch", "target": "candidate", "confirm": "1"}).status_code == 400
    response = operator.post(ROUTE, {"queue": IDLE, "target": "canary", "percent": "", "confirm": "1"})
    assert response.status_code == 400 and "a canary needs" in response.content.decode()
    assert operator.post(ROUTE, {"queue": IDLE, "target": "canary", "percent": "100", "confirm": "1"}).status_code == 400
    assert operator.get(ROUTE).status_code == 405
    assert _share(IDLE) == (None, None)


def test_route_changes_list_shows_seconds_origin_and_reason(operator):
    operator.post(ROUTE, {"queue": IDLE, "target": "candidate", "force": "on", "reason": "drill two", "confirm": "1"})
    html = operator.get("/admin/taskbridge/routechange/").content.decode()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", html)
    assert "drill two" in html and "cutover page" in html


def test_figures_published_by_a_refresh_reach_the_json(viewer, redis_conn):
    found = live.refresh()
    assert found.backends[IDLE][conf.candidate()].workers == []
    data = viewer.get(LIVE).json()
    assert data["figures_age"] is not None and data["jobs_scanned"] == found.jobs_scanned
    [queue] = [q for q in data["queues"] if q["queue"] == IDLE]
    assert set(queue["backends"]) == set(conf.backends())
    assert len(queue["backends"][conf.candidate()]["done_per_minute"]) == 10


# waffle's own change form for a taskbridge flag


def _flag_form_post(client: Client, queue: str, **fields: str):
    flag, _ = Flag.objects.get_or_create(name=conf.queue_flag_name(queue), defaults={"everyone": False})
    data = {"everyone": "false", "percent": "", "note": flag.note, "reason": "", **fields}
    return client.post(f"/admin/waffle/flag/{flag.pk}/change/", data)


def test_a_taskbridge_flags_form_shows_only_the_route(operator):
    flag, _ = Flag.objects.get_or_create(name=conf.queue_flag_name(IDLE), defaults={"everyone": False})
    html = operator.get(f"/admin/waffle/flag/{flag.pk}/change/").content.decode()
    for ignored in ("id_superusers", "id_staff", "id_authenticated", "id_languages", "id_rollout", "id_testing", "id_groups", "id_users"):
        assert ignored not in html, ignored
    assert f"all to the candidate ({conf.candidate()})" in html and "do not apply to routing" in html


def test_waffles_form_goes_through_the_interlock_and_audits_a_forced_change(operator):
    refused = _flag_form_post(operator, IDLE, everyone="true")
    assert refused.status_code == 200 and "Refused by the interlock" in refused.content.decode()
    assert _share(IDLE) == (False, None)
    saved = _flag_form_post(operator, IDLE, everyone="true", force="on", reason="admin drill")
    assert saved.status_code == 302
    assert _share(IDLE) == (True, None)
    change = RouteChange.objects.filter(queue=IDLE).first()
    assert (change.origin, change.reason, change.forced, change.changed_by.username) == ("admin", "admin drill", True, "operator")


def test_a_new_taskbridge_flag_made_on_waffles_add_form_passes_the_interlock_too(operator):
    from django.contrib.auth.models import Permission as P

    get_user_model().objects.get(username="operator").user_permissions.add(P.objects.get(codename="add_flag"))
    data = {"name": conf.queue_flag_name(IDLE), "everyone": "true", "percent": "", "note": "", "superusers": "on",
            "created_0": "2026-01-01", "created_1": "00:00:00", "modified_0": "2026-01-01", "modified_1": "00:00:00"}
    refused = operator.post("/admin/waffle/flag/add/", data)
    assert refused.status_code == 200 and "Refused by the interlock" in refused.content.decode()
    assert f"no live {conf.candidate()} worker consumes queue" in refused.content.decode()
    assert not Flag.objects.filter(name=conf.queue_flag_name(IDLE)).exists()


def test_figures_count_backlog_oldest_job_and_endings_per_minute_from_the_ledger(redis_conn):
    import time
    import uuid

    from taskbridge import cutover
    from taskbridge.ledger import ledger
    from taskbridge.states import TaskStatus

    records, candidate = ledger(), conf.candidate()
    ids = [f"cockpit-{uuid.uuid4().hex}" for _ in range(3)]
    for job_id in ids:
        assert records.claim(job_id, candidate, IDLE, "tests.taskapp.tasks.add", TaskStatus.QUEUED, "c", b"{}") is None
    for job_id, ends in ((ids[1], "succeed"), (ids[2], "fail")):
        records.begin(job_id, 1, candidate, IDLE, "tests.taskapp.tasks.add", 60, records.lease(job_id))
        records.succeed(job_id, 3, 60) if ends == "succeed" else records.fail(job_id, "ValueError", "no", 60)
    time.sleep(0.2)
    try:
        view = cutover.figures().backends[IDLE][candidate]
        assert (view.counts["queued"], view.counts["succeeded"], view.counts["failed"], view.backlog) == (1, 1, 1, 1)
        assert view.oldest_seconds is not None and 0 <= view.oldest_seconds < 30
        assert (sum(view.done_per_minute), sum(view.failed_per_minute)) == (2, 1)
        assert view.workers == []
        assert cutover.figures().backends[IDLE][conf.baseline()].backlog == 0
    finally:
        for job_id in ids:
            records.release(job_id)
