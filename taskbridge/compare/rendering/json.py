"""The report as JSON: the stable form for scripts and CI gates (keys documented in docs/compare.md)."""

from __future__ import annotations

import json
import math
from typing import Any

from ..judging.report import Report


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity; a ratio against a zero baseline becomes ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def render_json(report: Report, indent: int | None = 2) -> str:
    return json.dumps(_clean(report.as_dict()), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
