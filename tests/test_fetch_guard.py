"""URL ingestion's SSRF guard, under the guard configuration the production settings give:
loopback, private and link-local (cloud metadata) addresses are refused, directly and
through a redirect from an allowed site, and a refused URL creates nothing."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from notebooks.services import addresses
from notebooks.services.fetcher import FetchError, HttpFetcher, RefusedURL, TransientFetchError
from tests.support.domain import LocalSite

GUARD_SETTINGS = ("NOTEBOOKS_FETCH_BLOCK_PRIVATE_ADDRESSES", "NOTEBOOKS_FETCH_ALLOWED_ADDRESSES")
FORBIDDEN = ["http://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
             "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://localhost/", "http://100.64.0.1/"]


def _production_guard() -> dict:
    """The guard settings as backend.settings.prod resolves them (in a fresh process)."""
    code = ("import json, django; django.setup(); from notebooks import conf; "
            f"print(json.dumps({{name: list(v) if isinstance(v := conf.get(name), (list, tuple)) else v for name in {GUARD_SETTINGS!r}}}))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings.prod", "SECRET_KEY": "k" * 30 + "#Zq8-strong-enough-for-the-check-!",
           "ALLOWED_HOSTS": "example.org"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def production_guard() -> dict:
    guard = _production_guard()
    assert guard == {"NOTEBOOKS_FETCH_BLOCK_PRIVATE_ADDRESSES": True, "NOTEBOOKS_FETCH_ALLOWED_ADDRESSES": []}
    return guard


@pytest.fixture
def guarded(settings, production_guard, site):
    """Production's guard, plus the one exception the tests' own site needs to serve the redirects."""
    for name, value in production_guard.items():
        setattr(settings, name, value)
    return settings


@pytest.mark.parametrize("url", FORBIDDEN)
def test_private_addresses_are_refused_under_production_settings(settings, production_guard, url):
    for name, value in production_guard.items():
        setattr(settings, name, value)
    with pytest.raises(RefusedURL, match="non-public address") as caught:
        HttpFetcher().fetch(url)
    assert not isinstance(caught.value, TransientFetchError)


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/article.html", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/"])
def test_redirects_from_an_allowed_site_are_checked(guarded, site, target):
    with LocalSite(port=0) as internal:  # a loopback-only page the guard must keep out of reach
        guarded.NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = [site.url("").removeprefix("http://")]
        assert HttpFetcher().fetch(site.url("/notes.txt")).status == 200  # the allowed site itself is reachable
        with pytest.raises(RefusedURL, match="non-public address"):
            HttpFetcher().fetch(site.redirect_to(target.format(port=internal.server.server_address[1])))
        assert internal.requested == []


def test_an_allowed_address_is_allowed_on_its_port_only(guarded, site):
    port = site.server.server_address[1]
    guarded.NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = [f"127.0.0.1:{port}"]
    assert b"Field notes" in HttpFetcher().fetch(site.url("/notes.txt")).body
    with LocalSite(port=0) as other, pytest.raises(RefusedURL):
        HttpFetcher().fetch(other.url("/notes.txt"))
    assert other.requested == []


def test_redirects_to_other_schemes_are_refused(guarded, site):
    guarded.NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = [site.url("").removeprefix("http://")]
    with pytest.raises(RefusedURL, match="not http"):
        HttpFetcher().fetch(site.redirect_to("ftp://10.0.0.1/secret"))
    with pytest.raises(FetchError, match="not allowed") as caught:
        HttpFetcher().fetch(site.redirect_to("file:///etc/passwd"))
    assert not isinstance(caught.value, TransientFetchError)


def test_the_address_verdicts():
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert addresses.is_public(ipaddress.ip_address(public))
    for private in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "::1", "fe80::1", "fd00:ec2::254", "::ffff:10.0.0.1", "224.0.0.1"):
        assert not addresses.is_public(ipaddress.ip_address(private)), private


def test_a_refused_url_marks_the_item_failed_and_fetches_nothing(guarded, alice):
    from notebooks import ingestion
    from notebooks.models import KnowledgeBaseItem, Notebook

    notebook = Notebook.objects.create(user=alice, name="n")
    with pytest.raises(FetchError):
        ingestion.process_url("webpage", "http://169.254.169.254/latest/meta-data/", notebook.pk, alice.pk, None, None, None)
    item = KnowledgeBaseItem.objects.get(notebook=notebook)
    assert item.parsing_status == KnowledgeBaseItem.ParsingStatus.FAILED and "non-public address" in item.error_message
    assert item.content == ""
