"""The reports app's settings, read in one place, with defaults that work out of the box."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "REPORTS_MAX_SECTIONS": 50,
    # Seconds each section takes on top of writing it: the local writer's pace
    # (a real LLM takes seconds per section). 0 runs flat out.
    "REPORTS_STEP_DELAY": 0.2,
    # Finished reports older than this are deleted, with their files, by cleanup_old_reports.
    "REPORTS_RETENTION_DAYS": 30,
    # Swappable outside service: dotted path of the report writer class.
    "REPORTS_WRITER": "reports.services.writer.ExtractiveReportWriter",
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
