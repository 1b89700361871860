"""Shared helpers for the notebooks / podcast / reports tests (this module has no tests).

Its fixtures (``site``, ``alice``, ``api``) are registered for every test by
``pytest_plugins`` in tests/conftest.py: a local HTTP site to ingest from, logged-in API clients,
routing every queue to one backend, polling the API until a state is reached,
and a tiny PDF writer.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import quote, unquote

import pytest
from django.conf import settings

from django.test import Client

from tests.conftest import set_route

BACKENDS = [pytest.param(False, "celery", id="celery"), pytest.param(True, "rq", id="rq")]

ARTICLE = """<!doctype html><html><head><title>Queues without surprises</title>
<style>body { color: red }</style><script>var hidden = "not text";</script></head>
<body><h1>Queues without surprises</h1>
<p>A queue is a promise that work will be done later, by someone else. Workers take jobs from the queue one by one.</p>
<p>Retries make a job run again when it failed for a passing reason. A job that may run twice must not do its work twice.</p>
<img src="/img/queue-diagram.png" alt="A diagram of a queue with two workers">
<p>Canary releases move a small share of the traffic first. Rolling back must not need a deploy.</p>
</body></html>"""

NOTES = "Field notes on brokers\n\nRedis keeps the queue in memory and on disk. Workers acknowledge each job they take.\n"


def make_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF showing ``lines`` in Helvetica (enough for pypdf to extract)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({escape(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def make_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


PAGES: dict[str, tuple[int, str, bytes]] = {
    "/article.html": (200, "text/html; charset=utf-8", ARTICLE.encode()),
    "/paper.pdf": (200, "application/pdf", make_pdf(["Scheduling background jobs", "A scheduler moves due jobs to their queue.",
                                                     "Exactly one scheduler may own a given tick."])),
    "/notes.txt": (200, "text/plain; charset=utf-8", NOTES.encode()),
    "/clip.wav": (200, "audio/wav", make_wav()),
    "/empty.html": (200, "text/html", b"<html><body><script>1</script></body></html>"),
    "/img/queue-diagram.png": (200, "image/png", b"\x89PNG\r\n\x1a\n"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.server.requested.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", unquote(self.path.removeprefix("/redirect?to=")))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, content_type, body = PAGES.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class LocalSite:
    """A real HTTP server on a loopback port, serving :data:`PAGES`: by default the port
    tests/plugin.py chose, which the test settings let URL ingestion reach."""

    def __init__(self, port: int | None = None) -> None:
        if port is None:
            port = int(os.environ.get("TASKBRIDGE_TEST_SITE_PORT", "0"))
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.requested = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def redirect_to(self, target: str) -> str:
        """A URL on this site that answers 302 to ``target``."""
        return self.url(f"/redirect?to={quote(target, safe='')}")

    @property
    def requested(self) -> list[str]:
        """The paths requested so far."""
        return self.server.requested  # type: ignore[attr-defined]

    def __enter__(self) -> LocalSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def site():
    with LocalSite() as running:
        yield running


def make_user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password="pw-" + username)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff_client(username: str, *perms: str) -> Client:
    """A logged-in staff user holding exactly ``perms`` (``"app_label.codename"``): staff status
    alone opens no operator view."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return client_for(user)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def api(alice) -> Client:
    return client_for(alice)


def route_all(everyone: bool) -> None:
    """Send every configured queue to RQ (True) or Celery (False), and wait until every
    process (workers dispatching chained tasks included) has seen it."""
    for queue in settings.TASKBRIDGE["QUEUES"]:
        set_route(queue, everyone=everyone)
    from taskbridge.testing import settle

    settle()


def post(client: Client, path: str, data: dict[str, Any] | None = None):
    return client.post(path, data=json.dumps(data or {}), content_type="application/json")


def wait_until(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30, poll: float = 0.2) -> Any:
    """Call ``fetch`` until ``done(value)``; fail with the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s; last value: {value!r}")
        time.sleep(poll)


def get_json(client: Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return response.json()


def new_notebook(client: Client, name: str = "Research") -> int:
    response = post(client, "/api/notebooks/", {"name": name})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def parsed_source(client: Client, notebook_id: int, text: str = NOTES, name: str = "notes.txt", timeout: float = 30) -> dict[str, Any]:
    return parsed_sources(client, notebook_id, [(text, name)], timeout)[0]


def parsed_sources(client: Client, notebook_id: int, files: list[tuple[str, str]], timeout: float = 30) -> list[dict[str, Any]]:
    """Upload text files through the API and wait until each is parsed and its index chain is
    over (so no poller outlives the test and meets a reused item id in the next one)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    ids = []
    for text, name in files:
        response = client.post(f"/api/notebooks/{notebook_id}/sources/file/", {"file": SimpleUploadedFile(name, text.encode())})
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    return [
        wait_until(
            lambda item_id=item_id: get_json(client, f"/api/notebooks/{notebook_id}/sources/{item_id}/"),
            lambda item: item["parsing_status"] == "failed" or item["index_status"] in ("completed", "failed"), timeout,
        )
        for item_id in ids
    ]
