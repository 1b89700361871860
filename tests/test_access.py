"""Who may do what: django-rq's dashboard needs an explicit permission, not staff status
alone; an API user who is not staff logs in with JSON (CSRF on) and uses the API."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rq.job import Job

from notebooks.models import Notebook
from tests.support.domain import staff_client


@pytest.fixture
def job(redis_conn):
    """A real queued RQ job on the session's redis-server (the dashboard reads and deletes real jobs)."""
    queue = django_rq.get_queue("maintenance")
    queued = queue.enqueue_call("tests.taskapp.tasks.add", args=(1, 2), kwargs={"token": "s3cr3t-argument"})
    yield queued
    if Job.exists(queued.id, connection=redis_conn):
        queued.delete()


def _job_paths(job) -> tuple[str, str]:
    index = django_rq.settings.get_queues_map()["maintenance"]
    return f"/django-rq/queues/{index}/{job.id}/", f"/django-rq/queues/{index}/{job.id}/delete/"


def test_staff_without_the_permission_cannot_view_or_delete_a_job(db, job, redis_conn):
    staff = staff_client("clerk")
    detail, delete = _job_paths(job)
    for path in ("/django-rq/", detail, delete):
        response = staff.get(path)
        assert response.status_code == 403, path
        assert b"s3cr3t-argument" not in response.content
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    assert Job.exists(job.id, connection=redis_conn)


def test_anonymous_users_are_sent_to_login(db, job):
    detail, _ = _job_paths(job)
    response = Client().get(detail)
    assert response.status_code == 302 and "login" in response["Location"]


def test_an_operator_with_the_permission_can_view_and_delete(db, job, redis_conn):
    operator = staff_client("operator", "django_rq.admin")
    detail, delete = _job_paths(job)
    assert operator.get("/django-rq/").status_code == 200
    page = operator.get(detail)
    assert page.status_code == 200 and job.id.encode() in page.content
    assert operator.post(delete, {"post": "yes"}).status_code == 302
    assert not Job.exists(job.id, connection=redis_conn)


def test_the_dashboard_is_not_also_served_under_admin(db):
    staff = staff_client("clerk")
    assert staff.get("/admin/django_rq/dashboard/").status_code == 404


def test_a_non_staff_user_logs_in_and_uses_the_api(db):
    get_user_model().objects.create_user("reader", password="correct horse")
    client = Client(enforce_csrf_checks=True)
    session = client.get("/api/auth/session/")
    assert session.json() == {"authenticated": False, "username": None}

    def send(path: str, body: dict) -> object:
        return client.post(path, data=json.dumps(body), content_type="application/json",
                           HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert client.post("/api/auth/login/", data="{}", content_type="application/json").status_code == 403  # no CSRF token
    wrong = send("/api/auth/login/", {"username": "reader", "password": "wrong"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid username or password"
    assert send("/api/auth/login/", {"username": "reader"}).json()["field"] == "password"
    logged_in = send("/api/auth/login/", {"username": "reader", "password": "correct horse"})
    assert logged_in.status_code == 200 and logged_in.json() == {"authenticated": True, "username": "reader"}
    created = send("/api/notebooks/", {"name": "Mine"})  # the token rotated at login; send() reads the new cookie
    assert created.status_code == 201
    assert client.get("/api/notebooks/").json()["notebooks"][0]["name"] == "Mine"
    assert send("/api/auth/logout/", {}).json()["authenticated"] is False
    assert client.get("/api/notebooks/").status_code == 401
    assert Notebook.objects.count() == 1
