"""Checking a report configuration: a structured result, never an exception.

``{"valid": bool, "errors": [{"field", "message"}], "config": normalised or None}``;
the same function backs the create endpoint (inline) and the
``validate_report_configuration`` task (on the validation queue).
"""

from __future__ import annotations

from typing import Any

from . import conf

STYLES = ("brief", "detailed")
DEFAULTS: dict[str, Any] = {"title": "Research report", "topic": "", "sections": 3, "style": "brief", "include_sources": True}


def validate_config(config: Any) -> dict[str, Any]:
    errors: list[dict[str, str]] = []

    def error(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    if config is None:
        config = {}
    if not isinstance(config, dict):
        return {"valid": False, "errors": [{"field": "config", "message": "must be a JSON object"}], "config": None}
    for unknown in sorted(set(config) - set(DEFAULTS)):
        error(unknown, f"unknown setting (known: {', '.join(DEFAULTS)})")
    merged = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    if not isinstance(merged["title"], str) or not 1 <= len(merged["title"].strip()) <= 200:
        error("title", "must be a string of 1 to 200 characters")
    elif "\x00" in merged["title"]:
        error("title", "must not contain a NUL character")
    if not isinstance(merged["topic"], str) or len(merged["topic"]) > 500:
        error("topic", "must be a string of at most 500 characters")
    elif "\x00" in merged["topic"]:
        error("topic", "must not contain a NUL character")
    most = conf.get("REPORTS_MAX_SECTIONS")
    if isinstance(merged["sections"], bool) or not isinstance(merged["sections"], int) or not 1 <= merged["sections"] <= most:
        error("sections", f"must be an integer from 1 to {most}")
    if merged["style"] not in STYLES:
        error("style", f"must be one of {', '.join(STYLES)}")
    if not isinstance(merged["include_sources"], bool):
        error("include_sources", "must be true or false")
    if errors:
        return {"valid": False, "errors": errors, "config": None}
    merged["title"] = merged["title"].strip()
    return {"valid": True, "errors": [], "config": merged}
