"""Which backend is the baseline and which the candidate, when the caller did not say.

``compare`` judges by role, never by backend name. The names come from the
caller (``--baseline`` / ``--candidate``, ``Options``); failing that, from
the project's settings (``taskbridge.conf``) when a settings module is
named. The judging code itself never reads settings, so the live guard and a
CI job without Django judge with exactly the names they pass.
"""

from __future__ import annotations

import os

from ..errors import MissingRoles

BASELINE = "baseline"
CANDIDATE = "candidate"
ROLES = (BASELINE, CANDIDATE)


def settings_available() -> bool:
    """True when ``taskbridge.conf`` can be read: a settings module is named, or settings were configured in code."""
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return True
    try:
        from django.conf import settings
    except ImportError:
        return False
    return settings.configured


def resolve(baseline: str | None, candidate: str | None) -> tuple[str, str]:
    """The two names, each from the caller or else from ``taskbridge.conf``."""
    if baseline is not None and candidate is not None:
        return baseline, candidate
    if not settings_available():
        missing = " and ".join(f"--{role}" for role, name in zip(ROLES, (baseline, candidate)) if name is None)
        raise MissingRoles(
            f"name the backends compared: {missing} NAME (e.g. --baseline celery --candidate rq), "
            "or set DJANGO_SETTINGS_MODULE so they come from TASKBRIDGE['BASELINE'] / ['CANDIDATE']"
        )
    from taskbridge import conf

    return (baseline if baseline is not None else conf.baseline(), candidate if candidate is not None else conf.candidate())
