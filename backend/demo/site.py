"""A small local web site for the notebooks to ingest: articles, documents, media, and trouble.

It runs in a thread of the orchestrator on a free loopback port, so URL
ingestion fetches over real HTTP without reaching the internet. Some pages
carry images (the captioning task runs), some are plain-text documents,
some are media; ``/missing/…`` answers 404 (a permanent failure) and
``/flaky/…`` answers 503 to its first request (a transient error the task
retries, then succeeds).
"""

from __future__ import annotations

import html
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOPICS = [
    ("Queues without surprises", "A queue is a promise that work will be done later, by someone else."),
    ("Retries and idempotence", "A job that may run twice must not do its work twice."),
    ("Canary releases", "Move a small share of the traffic first and watch it closely."),
    ("Rolling back", "A rollback that needs a deploy is a rollback that comes too late."),
    ("Structured events", "One line of JSON per thing that happened, the same on every backend."),
    ("Periodic work", "Exactly one scheduler may own a given tick, however many run."),
    ("Knowledge indexes", "Documents are chunked, embedded, and polled until the index is ready."),
    ("Podcasts from notes", "Two voices discuss what the notebook's sources say."),
]

WORDS = ("broker worker queue retry flag route canary rollback event schedule index chunk notebook report "
         "podcast caption parse upload poll stage backend celery redis job handle").split()


def _paragraphs(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 60))).capitalize() + "." for _ in range(count)]


def article(number: int, images: int) -> bytes:
    title, lead = TOPICS[number % len(TOPICS)]
    body = "".join(f"<p>{html.escape(text)}</p>" for text in _paragraphs(number, 4))
    figures = "".join(
        f'<figure><img src="/images/{number}-{i}.png" alt="Diagram {i + 1} of {html.escape(title.lower())}">'
        f"<figcaption>Figure {i + 1}</figcaption></figure>"
        for i in range(images)
    )
    page = (f"<!doctype html><html><head><title>{html.escape(title)} ({number})</title></head><body>"
            f"<article><h1>{html.escape(title)}</h1><p><strong>{html.escape(lead)}</strong></p>{body}{figures}"
            f"</article></body></html>")
    return page.encode()


def document(number: int) -> bytes:
    title, lead = TOPICS[number % len(TOPICS)]
    return (f"{title} (notes {number})\n\n{lead}\n\n" + "\n\n".join(_paragraphs(1000 + number, 3)) + "\n").encode()


# A tiny valid PNG (1x1) for the figures.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class _Handler(BaseHTTPRequestHandler):
    server: LocalSite._Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        status, content_type, body = self.server.site.respond(self.path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalSite:
    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        site: LocalSite

    def __init__(self, port: int = 0) -> None:
        self._flaky_seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = self._Server(("127.0.0.1", port), _Handler)
        self._server.site = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-site", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, kind: str, number: int) -> str:
        suffix = {"articles": "html", "docs": "txt", "media": "mp3", "missing": "html", "flaky": "html"}[kind]
        return f"{self.base_url}/{kind}/{number}.{suffix}"

    def respond(self, path: str) -> tuple[int, str, bytes]:
        parts = path.strip("/").split("/")
        if len(parts) != 2:
            return 404, "text/plain", b"not found"
        kind, name = parts
        stem = name.rsplit(".", 1)[0]
        number = int(stem.split("-")[0]) if stem.split("-")[0].isdigit() else 0
        if kind == "articles":
            return 200, "text/html; charset=utf-8", article(number, images=number % 3)
        if kind == "docs":
            return 200, "text/plain; charset=utf-8", document(number)
        if kind == "media":
            return 200, "audio/mpeg", b"ID3" + document(number)
        if kind == "images":
            return 200, "image/png", PNG
        if kind == "flaky":
            with self._lock:
                first = path not in self._flaky_seen
                self._flaky_seen.add(path)
            if first:
                return 503, "text/plain", b"busy, try again"
            return 200, "text/html; charset=utf-8", article(number, images=0)
        return 404, "text/plain", b"not found"
