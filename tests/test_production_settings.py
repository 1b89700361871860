"""backend.settings.prod is safe whatever the environment says, and every entry point uses it
unless told otherwise. Each case runs in a fresh process, the way a deployment starts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

STRONG_KEY = secrets.token_urlsafe(64)
SHOW = ("import json; from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n, None) for n in ('SETTINGS_MODULE', 'DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_PROXY_SSL_HEADER')}))")


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    return subprocess.run(argv, env={**base, "ALLOWED_HOSTS": "example.org", **env}, cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=120)


def shown(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_a_strong_key():
    result = run([sys.executable, "manage.py", "check", "--deploy", "--settings=backend.settings.prod", "--fail-level", "WARNING"],
                 SECRET_KEY=STRONG_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_cannot_be_switched_on_and_https_is_enforced():
    values = shown(run([sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
                       DJANGO_SETTINGS_MODULE="backend.settings.prod", SECRET_KEY=STRONG_KEY, DEBUG="1"))
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # trusting X-Forwarded-Proto is opt-in


def test_the_proxy_header_is_trusted_only_when_asked():
    values = shown(run([sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
                       DJANGO_SETTINGS_MODULE="backend.settings.prod", SECRET_KEY=STRONG_KEY, TRUSTED_PROXY_SSL_HEADER="true"))
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.parametrize("key,words", [
    (None, "SECRET_KEY is required"),
    ("", "SECRET_KEY is required"),
    ("short-key", "too weak"),
    ("a" * 80, "too weak"),
    ("insecure-development-key-change-me", "too weak"),
])
def test_a_missing_or_weak_key_refuses_to_start(key, words):
    env = {} if key is None else {"SECRET_KEY": key}
    result = run([sys.executable, "manage.py", "check", "--settings=backend.settings.prod"], **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and words in result.stderr


@pytest.mark.parametrize("module", ["backend.wsgi", "backend.asgi", "backend.celery"])
def test_entry_points_default_to_production(module):
    refused = run([sys.executable, "-c", f"import {module}; from django.conf import settings; settings.DEBUG"])
    assert refused.returncode != 0 and "SECRET_KEY is required" in refused.stderr
    values = shown(run([sys.executable, "-c", f"import {module}; import django; django.setup(); {SHOW}"], SECRET_KEY=STRONG_KEY, DEBUG="1"))
    assert values["SETTINGS_MODULE"] == "backend.settings.prod" and values["DEBUG"] is False


def test_manage_py_defaults_to_production_and_the_demo_to_its_own_settings():
    refused = run([sys.executable, "manage.py", "check"])
    assert refused.returncode != 0 and "SECRET_KEY is required" in refused.stderr
    told = run([sys.executable, "manage.py", "check"], DJANGO_SETTINGS_MODULE="backend.settings.dev")
    assert told.returncode == 0, told.stderr
    from manage import default_settings

    assert default_settings(["manage.py", "taskbridge", "demo"]) == "backend.demo.settings"
    assert default_settings(["manage.py", "runserver"]) == "backend.settings.prod"
