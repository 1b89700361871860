"""Fetching a URL source over HTTP (DeepSight delegated this to crawler services).

Errors come in two kinds so the task can decide: :class:`TransientFetchError`
(connection refused, time-out, HTTP 5xx / 429) is worth retrying,
:class:`FetchError` (HTTP 4xx, too large, refused address) is not.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .. import conf

USER_AGENT = "taskbridge-notebooks/1.0 (+https://github.com/)"


class FetchError(Exception):
    """The URL cannot be fetched; retrying will not help."""


class TransientFetchError(FetchError):
    """The URL could not be fetched this time; a retry may succeed."""


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


class HttpFetcher:
    """urllib-based fetcher with a size cap, a time-out and an optional private-address guard."""

    def fetch(self, url: str) -> FetchedDocument:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"not an http(s) URL: {url!r}")
        if conf.get("NOTEBOOKS_FETCH_BLOCK_PRIVATE_ADDRESSES"):
            _refuse_private(parts.hostname)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        limit = conf.get("NOTEBOOKS_MAX_FETCH_BYTES")
        try:
            with urllib.request.urlopen(request, timeout=conf.get("NOTEBOOKS_FETCH_TIMEOUT")) as response:
                body = response.read(limit + 1)
                if len(body) > limit:
                    raise FetchError(f"{url} is larger than {limit} bytes")
                return FetchedDocument(
                    url=url,
                    final_url=response.geturl(),
                    status=response.status,
                    content_type=response.headers.get_content_type(),
                    charset=response.headers.get_content_charset(),
                    body=body,
                )
        except urllib.error.HTTPError as exc:
            message = f"HTTP {exc.code} {exc.reason} for {url}"
            if exc.code >= 500 or exc.code == 429:
                raise TransientFetchError(message) from None
            raise FetchError(message) from None
        except urllib.error.URLError as exc:
            raise TransientFetchError(f"could not reach {url}: {exc.reason}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise TransientFetchError(f"could not reach {url}: {exc}") from None


def _refuse_private(host: str) -> None:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            raise FetchError(f"{host} resolves to a non-public address ({address})")
