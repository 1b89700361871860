"""What the report tasks do: write the report section by section, store its Markdown,
delete reports with their files.

Like podcast generation: one step per section, a cancellation check between
steps (taskbridge's flag or the row), and status writes conditional on the
status they expect, so a cancelled report stays cancelled.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notebooks.models import KnowledgeBaseItem
from taskbridge import context

from . import conf, services
from .models import Report
from .services.writer import Source

Status = Report.Status


class GenerationError(Exception):
    pass


def move(report_id: int, expected: str | tuple[str, ...], **fields: Any) -> bool:
    """Update the report only if it is still in ``expected``; False when it is not."""
    expected = (expected,) if isinstance(expected, str) else expected
    return bool(Report.objects.filter(pk=report_id, status__in=expected).update(updated_at=timezone.now(), **fields))


def _stopped(report_id: int) -> bool:
    if context.current() is not None and context.is_cancelled():
        return True
    return Report.objects.filter(pk=report_id, status=Status.CANCELLED).exists()


def sources_of(notebook_id: int) -> list[Source]:
    items = KnowledgeBaseItem.objects.filter(notebook_id=notebook_id, parsing_status=KnowledgeBaseItem.ParsingStatus.DONE)
    return [Source(i.title, i.content, i.source_url) for i in items.order_by("created_at") if i.content.strip()]


def generate(report_id: int) -> dict[str, Any]:
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        return {"report_id": report_id, "status": "missing"}
    if _stopped(report_id) or not move(report_id, Status.PENDING, status=Status.RUNNING, started_at=timezone.now(), progress=0):
        return {"report_id": report_id, "status": "skipped", "reason": f"report is {report.status}"}
    try:
        return _generate(report)
    except Exception as exc:
        move(report_id, Status.RUNNING, status=Status.FAILED, error_message=str(exc)[:4000], completed_at=timezone.now())
        raise


def _generate(report: Report) -> dict[str, Any]:
    sources = sources_of(report.notebook_id)
    if not sources:
        raise GenerationError("the notebook has no parsed sources to report on")
    config, writer = report.configuration, services.get_writer()
    delay = float(conf.get("REPORTS_STEP_DELAY"))
    sections: list[tuple[str, str]] = []
    for index, heading in enumerate(writer.outline(config, sources)):
        if _stopped(report.pk):
            return {"report_id": report.pk, "status": "cancelled", "progress": index}
        sections.append((heading, writer.section(index, heading, config, sources)))
        time.sleep(delay)
        move(report.pk, Status.RUNNING, progress=index + 1)
    markdown = writer.assemble(config, sources, sections)
    key = default_storage.save(f"reports/{report.user_id}/{report.pk}/report.md", ContentFile(markdown.encode()))
    if not move(report.pk, Status.RUNNING, status=Status.COMPLETED, content=markdown, markdown_file=key, completed_at=timezone.now()):
        default_storage.delete(key)  # cancelled during the last step
        return {"report_id": report.pk, "status": "cancelled"}
    return {"report_id": report.pk, "status": "completed", "markdown_file": key, "characters": len(markdown)}


def delete_with_files(report: Report) -> None:
    if report.markdown_file:
        report.markdown_file.delete(save=False)
    report.delete()


def cleanup_old(days: int) -> int:
    """Delete finished reports last updated more than ``days`` days ago, and their files."""
    cutoff = timezone.now() - timezone.timedelta(days=days)
    deleted = 0
    for report in Report.objects.filter(status__in=Report.FINISHED, updated_at__lt=cutoff).iterator():
        delete_with_files(report)
        deleted += 1
    return deleted
