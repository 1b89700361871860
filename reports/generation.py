"""What the report tasks do: write the report section by section, store its Markdown.

Like podcast generation: a loop of steps, one per section, cancellable
between steps (``notebooks.longjobs``).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notebooks.longjobs import move, stopped
from notebooks.models import KnowledgeBaseItem

from . import conf, services
from .models import Report
from .services.writer import Source

Status = Report.Status


class GenerationError(Exception):
    pass


def generate(report_id: int) -> dict[str, Any]:
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        return {"report_id": report_id, "status": "missing"}
    if stopped(report) or not move(report, Status.PENDING, status=Status.RUNNING, started_at=timezone.now(), progress=0):
        return {"report_id": report_id, "status": "skipped", "reason": f"report is {report.status}"}
    try:
        return _generate(report)
    except Exception as exc:
        move(report, Status.RUNNING, status=Status.FAILED, error_message=str(exc)[:4000], completed_at=timezone.now())
        raise


def _generate(report: Report) -> dict[str, Any]:
    sources = [Source(i.title, i.content, i.source_url) for i in KnowledgeBaseItem.objects.parsed(report.notebook_id)]
    if not sources:
        raise GenerationError("the notebook has no parsed sources to report on")
    config, writer = report.configuration, services.get_writer()
    delay = float(conf.get("REPORTS_STEP_DELAY"))
    sections: list[tuple[str, str]] = []
    for index, heading in enumerate(writer.outline(config, sources)):
        if stopped(report):
            return {"report_id": report.pk, "status": "cancelled", "progress": index}
        sections.append((heading, writer.section(index, heading, config, sources)))
        time.sleep(delay)
        move(report, Status.RUNNING, progress=index + 1)
    markdown = writer.assemble(config, sources, sections)
    key = default_storage.save(f"reports/{report.user_id}/{report.pk}/report.md", ContentFile(markdown.encode()))
    if not move(report, Status.RUNNING, status=Status.COMPLETED, content=markdown, markdown_file=key, completed_at=timezone.now()):
        default_storage.delete(key)  # cancelled during the last step
        return {"report_id": report.pk, "status": "cancelled"}
    return {"report_id": report.pk, "status": "completed", "markdown_file": key, "characters": len(markdown)}

