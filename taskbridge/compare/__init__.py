"""Compare Celery and RQ from their event logs: figures per queue, task and backend; stranded and
duplicate jobs; a go / hold verdict per queue.

``analyse(source, **options)`` returns a :class:`Report`; the ``render_*``
modules turn it into a terminal table, Markdown, JSON or a self-contained HTML
page. ``manage.py taskbridge compare`` is a thin layer over these. Nothing
here needs Django settings or imports a domain app.
"""

from .judging.analyse import analyse, build_report
from .options import Options, Thresholds
from .judging.report import REPORT_SCHEMA, REPORT_VERSION, Report

__all__ = ["REPORT_SCHEMA", "REPORT_VERSION", "Options", "Report", "Thresholds", "analyse", "build_report"]
