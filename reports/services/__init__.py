"""Stand-in for the service DeepSight's report generation called (an LLM research
agent); swap it through REPORTS_WRITER."""

from __future__ import annotations

from notebooks.services import load

from .. import conf


def get_writer():
    return load(conf.get("REPORTS_WRITER"))
