"""Owner-only access: another user can neither read nor change someone else's notebooks,
sources, podcasts or reports (always 404, so existence is not revealed either)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from notebooks import sources
from notebooks.models import BatchJob, KnowledgeBaseItem, Notebook
from podcast import jobs as podcast_jobs
from podcast.models import PodcastJob
from reports import jobs as report_jobs
from reports.models import Report
from reports.validation import validate_config
from tests.support.domain import client_for, make_user, post


@pytest.fixture
def owned(alice):
    """Alice's notebook with a source and a batch, a podcast job and a report (dispatch waits for a commit that never comes)."""
    notebook = Notebook.objects.create(user=alice, name="Alice's")
    item = sources.add_url(notebook, alice.pk, "https://example.org/a")
    batch = sources.add_urls(notebook, alice.pk, ["https://example.org/b"])
    podcast = podcast_jobs.start(alice, notebook, "Alice's show", 4)
    report = report_jobs.start(alice, notebook, validate_config({})["config"])
    return {"notebook": notebook, "item": item, "batch": batch, "podcast": podcast, "report": report}


@pytest.fixture
def bob(db):
    return client_for(make_user("bob"))


def test_the_owner_can_read_everything(api, owned):
    n, p, r = owned["notebook"].pk, owned["podcast"].pk, owned["report"].pk
    for path in (f"/api/notebooks/{n}/", f"/api/notebooks/{n}/sources/{owned['item'].pk}/",
                 f"/api/notebooks/{n}/batches/{owned['batch'].pk}/", f"/api/podcasts/{p}/", f"/api/reports/{r}/"):
        assert api.get(path).status_code == 200, path


def test_lists_only_show_own_objects(bob, owned):
    assert bob.get("/api/notebooks/").json() == {"notebooks": []}
    assert bob.get("/api/podcasts/").json() == {"podcasts": []}
    assert bob.get("/api/reports/").json() == {"reports": []}


def test_another_user_cannot_read(bob, owned):
    n = owned["notebook"].pk
    for path in (
        f"/api/notebooks/{n}/", f"/api/notebooks/{n}/sources/{owned['item'].pk}/", f"/api/notebooks/{n}/batches/{owned['batch'].pk}/",
        f"/api/podcasts/{owned['podcast'].pk}/", f"/api/podcasts/{owned['podcast'].pk}/audio/",
        f"/api/reports/{owned['report'].pk}/", f"/api/reports/{owned['report'].pk}/markdown/",
    ):
        response = bob.get(path)
        assert response.status_code == 404, path
        assert "not found" in response.json()["error"]


def test_another_user_cannot_cancel_or_delete(bob, owned):
    assert post(bob, f"/api/podcasts/{owned['podcast'].pk}/cancel/").status_code == 404
    assert post(bob, f"/api/reports/{owned['report'].pk}/cancel/").status_code == 404
    assert bob.delete(f"/api/reports/{owned['report'].pk}/").status_code == 404
    assert PodcastJob.objects.get(pk=owned["podcast"].pk).status == PodcastJob.Status.PENDING
    assert Report.objects.get(pk=owned["report"].pk).status == Report.Status.PENDING


def test_another_user_cannot_use_the_notebook(bob, owned):
    n = owned["notebook"].pk
    items, batches = KnowledgeBaseItem.objects.count(), BatchJob.objects.count()
    assert post(bob, f"/api/notebooks/{n}/sources/url/", {"url": "https://example.org/x"}).status_code == 404
    assert post(bob, f"/api/notebooks/{n}/sources/batch/", {"urls": ["https://example.org/x"]}).status_code == 404
    assert bob.post(f"/api/notebooks/{n}/sources/file/", {"file": SimpleUploadedFile("a.txt", b"hello")}).status_code == 404
    assert post(bob, "/api/podcasts/", {"notebook": n}).status_code == 404
    assert post(bob, "/api/reports/", {"notebook": n, "config": {}}).status_code == 404
    assert (KnowledgeBaseItem.objects.count(), BatchJob.objects.count()) == (items, batches)
    assert PodcastJob.objects.count() == 1 and Report.objects.count() == 1


def test_session_writes_need_the_csrf_token(alice):
    """CSRF protection stays on for the session-authenticated API (no csrf_exempt)."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    refused = post(browser, "/api/notebooks/", {"name": "n"})
    assert refused.status_code == 403 and not Notebook.objects.exists()
    token = browser.get("/api/notebooks/").cookies["csrftoken"].value  # any GET sets the cookie
    accepted = browser.post("/api/notebooks/", data='{"name": "n"}', content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201
