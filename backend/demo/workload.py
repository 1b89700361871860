"""The reference workload, one user action at a time, through the project's HTTP API.

The demo logs in like a browser (Django's session, CSRF token) and calls the
JSON API of the domain apps on the running web server, so every dispatch
happens where it happens in production: in the web process, on commit, with
the request's correlation id (``X-Correlation-ID``) carried into every job it
causes. The few dispatches DeepSight makes from services rather than views
(report-configuration validation whose result is awaited through the handle,
the asynchronous podcast cancellation, the health check) are made here, in
this process, the way a service or a shell would.

One *action* is one thing a user does: add a URL (an article, a document, a
media file, a batch, a page that is missing, a page that fails once), upload a
file, start a podcast, start a report, delete a report, cancel a podcast,
validate a configuration. Actions take turns queue by queue, each queue
cycling through its own actions, so every queue gets the same share of a
stage; ``focus`` narrows it to one queue.
"""

from __future__ import annotations

import http.cookiejar
import json
import random
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from typing import Any

# The cycle of actions; each name is a method `_<name>`. Its queue is what it dispatches to first.
MIX = [
    ("url_article", "notebook_processing"),
    ("validate_ok", "validation"),
    ("podcast", "podcast"),
    ("url_document", "notebook_processing"),
    ("report", "reports"),
    ("health", "default"),
    ("url_article", "notebook_processing"),
    ("validate_bad", "validation"),
    ("url_flaky", "notebook_processing"),
    ("podcast_then_cancel", "podcast"),
    ("batch", "notebook_processing"),
    ("report_then_delete", "reports"),
    ("url_media", "notebook_processing"),
    ("validate_ok", "validation"),
    ("health", "default"),
    ("file_upload", "notebook_processing"),
    ("url_missing", "notebook_processing"),
    ("url_article", "notebook_processing"),
]
# The queues user actions dispatch to, in the order a stage's actions take turns.
QUEUES = list(dict.fromkeys(queue for _, queue in MIX))
# Actions whose job fails on purpose (a page that answers 404): part of a real workload.
DESIGNED_TO_FAIL = {"url_missing"}


class ApiFailure(RuntimeError):
    pass


class Client:
    """A logged-in session on the web server: cookies, CSRF token, JSON in and out."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def _cookie(self, name: str) -> str:
        return next((c.value for c in self.cookies if c.name == name), "")

    def login(self, username: str, password: str) -> None:
        self.opener.open(self.base + "/admin/login/", timeout=15).read()
        form = urllib.parse.urlencode({
            "username": username, "password": password, "next": "/admin/",
            "csrfmiddlewaretoken": self._cookie("csrftoken"),
        }).encode()
        request = urllib.request.Request(self.base + "/admin/login/?next=/admin/", data=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + "/admin/login/",
        })
        self.opener.open(request, timeout=15).read()
        if not self._cookie("sessionid"):
            raise ApiFailure(f"could not log in to {self.base}/admin/ as {username}")

    def call(self, method: str, path: str, body: Any = None, *, correlation_id: str | None = None,
             data: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
        headers = {"X-CSRFToken": self._cookie("csrftoken"), "Accept": "application/json", "Referer": self.base + "/"}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")


def _multipart(field: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Workload:
    def __init__(self, web: str, username: str, password: str, site: Any, short: bool = False) -> None:
        self.client = Client(web)
        self.username, self.password = username, password
        self.site = site
        self.short = short
        self.done: Counter[str] = Counter()
        self.errors: list[str] = []
        self.notebooks: list[int] = []
        self.validations: list[tuple[Any, bool]] = []  # (handle, expected validity)
        self._n = 0
        self._tag = "demo"
        # Which notebook an action works on is drawn independently of the action, so a
        # percentage route (bucketed by notebook) sees every kind of action; seeded, so runs repeat.
        self._rng = random.Random(20251001)

    # -- set-up --------------------------------------------------------------

    def prepare(self) -> None:
        self.client.login(self.username, self.password)
        for name in ("Queues and workers", "Release engineering", "Observability", "Research notes",
                     "Incident reviews", "Capacity planning", "Reading list", "Team handbook"):
            status, body = self.client.call("POST", "/api/notebooks/", {"name": name, "description": "made by the demo"})
            if status != 201:
                raise ApiFailure(f"creating a notebook answered {status}: {body}")
            self.notebooks.append(body["id"])

    def seed(self) -> None:
        """Give every notebook a first source, so podcasts and reports have something to work from."""
        self.set_tag("setup")
        for i, notebook in enumerate(self.notebooks):
            self._n += 1
            body = {"url": self.site.url("articles", 900 + i), "kind": "webpage"}
            self._post(f"/api/notebooks/{notebook}/sources/url/", body, f"setup-{self._n:04d}-url-article")

    def set_tag(self, tag: str) -> None:
        """Correlation ids name the stage, so the event log reads back easily."""
        self._tag = tag

    # -- acting --------------------------------------------------------------

    def act(self, focus: str | None = None, index: int = 0) -> str:
        """Do one user action (of ``focus``'s queue when given); returns its name."""
        # A focused burst (the rollback's) leaves out the action that fails by design, so the failure
        # rate of the queue does not depend on which backend happened to get the burst.
        if focus is None:
            # Queue by queue, so each gets its share of every stage (and the verdicts enough jobs per queue).
            queue = QUEUES[self._n % len(QUEUES)]
            candidates = [name for name, of in MIX if of == queue]
            name = candidates[(self._n // len(QUEUES)) % len(candidates)]
        else:
            candidates = [name for name, queue in MIX if queue == focus and name not in DESIGNED_TO_FAIL] or [MIX[0][0]]
            name = candidates[self._n % len(candidates)]
        self._n += 1
        correlation_id = f"{self._tag}-{self._n:04d}-{name.replace('_', '-')}"
        try:
            getattr(self, f"_{name}")(self._n, correlation_id)
            self.done[name] += 1
        except Exception as exc:  # an API error is part of what the demo reports, not a crash
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            self.done[f"{name} (error)"] += 1
        return name

    def _notebook(self, n: int) -> int:
        return self._rng.choice(self.notebooks)

    def _post(self, path: str, body: Any, correlation_id: str, expect: tuple[int, ...] = (201, 202)) -> Any:
        status, answer = self.client.call("POST", path, body, correlation_id=correlation_id)
        if status not in expect:
            raise ApiFailure(f"POST {path} answered {status}: {answer}")
        return answer

    def _add_url(self, n: int, cid: str, kind: str, page: str) -> None:
        body = {"url": self.site.url(page, n), "kind": kind}
        self._post(f"/api/notebooks/{self._notebook(n)}/sources/url/", body, cid)

    def _url_article(self, n: int, cid: str) -> None:
        self._add_url(n, cid, "webpage", "articles")

    def _url_document(self, n: int, cid: str) -> None:
        self._add_url(n, cid, "document", "docs")

    def _url_media(self, n: int, cid: str) -> None:
        self._add_url(n, cid, "media", "media")

    def _url_flaky(self, n: int, cid: str) -> None:
        self._add_url(n, cid, "webpage", "flaky")

    def _url_missing(self, n: int, cid: str) -> None:
        self._add_url(n, cid, "webpage", "missing")

    def _batch(self, n: int, cid: str) -> None:
        urls = [self.site.url("articles", 100 + n * 3 + i) for i in range(3)]
        self._post(f"/api/notebooks/{self._notebook(n)}/sources/batch/", {"urls": urls}, cid)

    def _file_upload(self, n: int, cid: str) -> None:
        from .site import document

        data, content_type = _multipart("file", f"notes-{n}.txt", document(500 + n), "text/plain")
        status, answer = self.client.call("POST", f"/api/notebooks/{self._notebook(n)}/sources/file/",
                                          correlation_id=cid, data=data, content_type=content_type)
        if status != 202:
            raise ApiFailure(f"file upload answered {status}: {answer}")

    def _podcast(self, n: int, cid: str) -> Any:
        return self._post("/api/podcasts/", {"notebook": self._notebook(n), "title": f"Episode {n}", "segments": 4}, cid)

    def _podcast_then_cancel(self, n: int, cid: str) -> None:
        """Start a podcast, then cancel it the asynchronous way DeepSight does: a cancel task on the podcast queue."""
        from podcast.tasks import cancel_podcast_generation
        from taskbridge import correlation

        job = self._podcast(n, cid)
        token = correlation.set(cid)
        try:
            cancel_podcast_generation.enqueue(job["id"])
        finally:
            correlation.reset(token)

    def _report(self, n: int, cid: str) -> Any:
        config = {"title": f"Digest {n}", "topic": "moving queues", "sections": 3, "style": "brief"}
        return self._post("/api/reports/", {"notebook": self._notebook(n), "config": config}, cid)

    def _report_then_delete(self, n: int, cid: str) -> None:
        report = self._report(n, cid)
        status, answer = self.client.call("DELETE", f"/api/reports/{report['id']}/", correlation_id=cid)
        if status != 202:
            raise ApiFailure(f"DELETE report answered {status}: {answer}")

    def _validate(self, cid: str, config: dict, valid: bool) -> None:
        from reports.tasks import validate_report_configuration
        from taskbridge import correlation

        token = correlation.set(cid)
        try:
            self.validations.append((validate_report_configuration.enqueue(config), valid))
        finally:
            correlation.reset(token)

    def _validate_ok(self, n: int, cid: str) -> None:
        self._validate(cid, {"title": f"Plan {n}", "sections": 2 + n % 4, "style": "detailed"}, True)

    def _validate_bad(self, n: int, cid: str) -> None:
        self._validate(cid, {"title": "", "sections": 0, "style": "poetic"}, False)

    def _health(self, n: int, cid: str) -> None:
        from notebooks.tasks import health_check_task
        from taskbridge import correlation

        token = correlation.set(cid)
        try:
            health_check_task.enqueue()
        finally:
            correlation.reset(token)

    # -- results ---------------------------------------------------------------

    def check_validations(self, timeout: float = 10.0) -> dict[str, int]:
        """Read every validation result back through its handle, whichever backend ran it."""
        right = wrong = missing = 0
        for handle, expected in self.validations:
            try:
                result = handle.result(timeout=timeout)
            except Exception:
                missing += 1
                continue
            if isinstance(result, dict) and bool(result.get("valid")) == expected:
                right += 1
            else:
                wrong += 1
        return {"as_expected": right, "unexpected": wrong, "no_result": missing}

    def summary(self) -> dict[str, Any]:
        return {"actions": dict(self.done), "api_errors": self.errors[:20]}
