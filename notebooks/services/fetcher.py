"""Fetching a URL source over HTTP (DeepSight delegated this to crawler services).

Errors come in two kinds so the task can decide: :class:`TransientFetchError`
(connection refused, time-out, HTTP 5xx / 429) is worth retrying,
:class:`FetchError` (HTTP 4xx, too large, refused address) is not.

The URL is a user's, fetched from inside the deployment, so the fetcher is
also the SSRF guard: every connection (the first and each redirect hop) goes
through :func:`_guarded_connection`, which resolves the host once, lets
:mod:`.addresses` judge each address, connects to a judged address only and
checks the peer it got. No environment proxy is used (a proxy would make the
connection on our behalf, out of the guard's sight), only http and https are
followed, and the body is capped in size and the whole fetch in time.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .. import conf
from . import addresses

USER_AGENT = "taskbridge-notebooks/1.0 (+https://github.com/)"
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchError(Exception):
    """The URL cannot be fetched; retrying will not help."""


class TransientFetchError(FetchError):
    """The URL could not be fetched this time; a retry may succeed."""


class RefusedURL(FetchError):
    """The URL (or a redirect) leads to an address URL ingestion may not reach.

    Not an ``OSError``, so urllib does not wrap it into a ``URLError`` (a transient error).
    """


@dataclass(frozen=True)
class FetchedDocument:
    url: str
    final_url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes


class Fetcher(Protocol):
    def fetch(self, url: str) -> FetchedDocument: ...


def _guarded_connection(address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
                        source_address: Any = None) -> socket.socket:
    """``socket.create_connection`` that only ever connects to an address the policy allows."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    refusals, last_error = [], None
    for family, kind, proto, _, sockaddr in infos:
        try:
            addresses.check(sockaddr[0], port)
        except addresses.RefusedAddress as exc:
            refusals.append(str(exc))
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            sock.connect(sockaddr)
            addresses.check(sock.getpeername()[0], port)
            return sock
        except addresses.RefusedAddress as exc:
            sock.close()
            refusals.append(str(exc))
        except OSError as exc:
            sock.close()
            last_error = exc
    if last_error is not None:
        raise last_error
    raise RefusedURL(f"{host} resolves to a non-public address: {'; '.join(refusals)}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise RefusedURL(f"{req.full_url} redirects to {newurl!r}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    """Only the guarded http(s) handlers: no proxy, file:, ftp: or data: handler."""
    opener = urllib.request.OpenerDirector()
    for handler in (_HTTPHandler(), _HTTPSHandler(), _RedirectHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


class HttpFetcher:
    """urllib-based fetcher with a size cap, an overall time limit and the private-address guard."""

    def fetch(self, url: str) -> FetchedDocument:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"not an http(s) URL: {url!r}")
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        timeout = conf.get("NOTEBOOKS_FETCH_TIMEOUT")
        deadline = time.monotonic() + timeout
        try:
            with _opener().open(request, timeout=timeout) as response:
                body = _read_capped(response, url, conf.get("NOTEBOOKS_MAX_FETCH_BYTES"), deadline)
                return FetchedDocument(
                    url=url,
                    final_url=response.geturl(),
                    status=response.status,
                    content_type=response.headers.get_content_type(),
                    charset=response.headers.get_content_charset(),
                    body=body,
                )
        except RefusedURL as exc:
            raise RefusedURL(f"refused to fetch {url}: {exc}") from None
        except urllib.error.HTTPError as exc:
            message = f"HTTP {exc.code} {exc.reason} for {url}"
            if exc.code >= 500 or exc.code == 429:
                raise TransientFetchError(message) from None
            raise FetchError(message) from None
        except urllib.error.URLError as exc:
            raise TransientFetchError(f"could not reach {url}: {exc.reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise TransientFetchError(f"could not reach {url}: {exc}") from None


def _read_capped(response: http.client.HTTPResponse, url: str, limit: int, deadline: float) -> bytes:
    """The body, refusing more than ``limit`` bytes or reading past ``deadline`` (a slow drip counts too)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{url} is larger than {limit} bytes (Content-Length {declared})")
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TransientFetchError(f"fetching {url} took longer than {conf.get('NOTEBOOKS_FETCH_TIMEOUT')}s")
        chunk = response.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{url} is larger than {limit} bytes")
