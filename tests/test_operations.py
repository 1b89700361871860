"""Operator-facing behaviour: flags after migrate, the audit of flips made in admin,
the system check, staff-only dashboards."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from waffle.models import Flag

from taskbridge import conf, events
from taskbridge.models import RouteChange


@pytest.mark.django_db
def test_every_configured_queue_has_a_flag_after_migrate(settings):
    names = set(Flag.objects.values_list("name", flat=True))
    for queue in settings.TASKBRIDGE["QUEUES"]:
        assert conf.queue_flag_name(queue) in names
    flag = Flag.objects.get(name=conf.queue_flag_name("podcast"))
    assert flag.everyone is False  # the default backend, Celery, stated explicitly


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops", password="pw", is_staff=True, is_superuser=True)


def _flag_form(flag: Flag, **changes) -> dict:
    form = {
        "name": flag.name, "everyone": {True: "true", False: "false", None: "unknown"}[flag.everyone],
        "created_0": flag.created.strftime("%Y-%m-%d"), "created_1": flag.created.strftime("%H:%M:%S"),
        "modified_0": flag.modified.strftime("%Y-%m-%d"), "modified_1": flag.modified.strftime("%H:%M:%S"),
        "percent": "" if flag.percent is None else str(flag.percent), "note": flag.note,
        "superusers": "on", "rollout": "", "testing": "", "staff": "", "authenticated": "", "languages": "",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != ""}


@pytest.mark.django_db
def test_flip_in_admin_is_audited_and_emits_route_changed(client, staff, tmp_path, monkeypatch):
    log = tmp_path / "events.log"
    monkeypatch.setenv("TASKBRIDGE_EVENT_LOG", str(log))
    events.reset()
    client.force_login(staff)
    flag = Flag.objects.get(name=conf.queue_flag_name("reports"))
    response = client.post(f"/admin/waffle/flag/{flag.pk}/change/", _flag_form(flag, everyone="true", force="on", reason="audit test; session workers may or may not run"))
    assert response.status_code == 302, [(k, v) for k, v in (response.context["adminform"].form.errors.items() if response.context else [])]
    response = client.post(f"/admin/waffle/flag/{flag.pk}/change/", _flag_form(flag, everyone="unknown", percent="25", force="on", reason="audit test; session workers may or may not run"))
    assert response.status_code == 302
    events.reset()
    changes = list(RouteChange.objects.order_by("id").values_list("queue", "from_route", "to_route", "changed_by__username"))
    assert changes[-2:] == [("reports", "celery", "rq", "ops"), ("reports", "rq", "rq 25%", "ops")]
    emitted = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["event"], e["from"], e["to"], e["user"]) for e in emitted] == [
        ("route.changed", "celery", "rq", "ops"),
        ("route.changed", "rq", "rq 25%", "ops"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/", "/django-rq/", "/admin/waffle/flag/", "/admin/taskbridge/routechange/"])
def test_operator_views_are_staff_only(client, path):
    assert client.get(path).status_code == 302
    User.objects.create_user("plain", password="pw")
    client.login(username="plain", password="pw")
    assert client.get(path).status_code in (302, 403)
    User.objects.create_user("boss", password="pw", is_staff=True, is_superuser=True)
    client.login(username="boss", password="pw")
    assert client.get(path).status_code == 200


def test_system_check_refuses_a_process_local_waffle_cache(settings):
    settings.CACHES = {**settings.CACHES, "flags": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.WAFFLE_CACHE_NAME = "flags"
    assert [m.id for m in run_checks() if m.id.startswith("taskbridge.")] == ["taskbridge.E001"]
    settings.WAFFLE_CACHE_NAME = "default"
    assert [m.id for m in run_checks() if m.id.startswith("taskbridge.")] == []


def test_system_check_refuses_a_pickling_rq_queue(settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "podcast": {**settings.RQ_QUEUES["podcast"], "SERIALIZER": None}}
    assert "taskbridge.E004" in [m.id for m in run_checks()]


@pytest.mark.integration
def test_cutover_page_and_status_command_show_routes_jobs_and_workers(transactional_db, workers, client):
    from django.core.management import call_command

    from taskbridge import live

    from tests.conftest import set_route
    from tests.taskapp import tasks

    set_route("reports", everyone=True)
    set_route("default", everyone=False)
    tasks.add.enqueue(1, 2).result(timeout=20)
    scheduled = tasks.add.using(countdown=300).enqueue(1, 2)
    User.objects.create_user("boss", password="pw", is_staff=True, is_superuser=True)
    assert client.get("/admin/taskbridge/cutover/").status_code == 302
    client.login(username="boss", password="pw")
    assert "notebook_processing" in client.get("/admin/taskbridge/cutover/").content.decode()
    live.refresh()  # what the cockpit's refresher publishes every second
    page = {q["queue"]: q for q in client.get("/admin/taskbridge/cutover/live.json").json()["queues"]}
    assert any(w["name"].startswith("session@") for w in page["default"]["backends"]["celery"]["workers"])
    assert "session-rq" in [w["name"] for w in page["default"]["backends"]["rq"]["workers"]]
    out = __import__("io").StringIO()
    call_command("taskbridge", "status", "--json", stdout=out)
    snapshot = json.loads(out.getvalue())
    queues = {q["queue"]: q for q in snapshot["queues"]}
    assert queues["reports"]["route"] == "rq"
    assert queues["default"]["backends"]["celery"]["counts"]["succeeded"] >= 1
    assert queues["default"]["backends"]["celery"]["counts"]["scheduled"] >= 1
    assert any(w["name"].startswith("session@") for w in queues["default"]["backends"]["celery"]["workers"])
    assert "session-rq" in [w["name"] for w in queues["default"]["backends"]["rq"]["workers"]]
    scheduled.cancel()


def test_system_check_refuses_a_role_naming_a_backend_that_is_not_configured(settings):
    rq_only = {"rq": settings.TASKBRIDGE["BACKENDS"]["rq"]}
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "BACKENDS": rq_only, "BASELINE": "celery"}
    messages = [m for m in run_checks() if m.id == "taskbridge.E002"]
    assert messages and "BASELINE" in messages[0].msg
