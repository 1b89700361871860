"""The reports tasks: DeepSight's set, same names, queues and arguments, declared with taskbridge."""

from __future__ import annotations

from typing import Any

from notebooks import longjobs
from taskbridge import task

from . import conf, generation
from .models import Report
from .validation import validate_config


@task(queue="reports")
def process_report_generation(report_id: int) -> dict[str, Any]:
    """Long job: running → completed / failed; stops between sections when cancelled."""
    return generation.generate(report_id)


@task(queue="reports")
def delete_report_and_cleanup(report_id: int) -> dict[str, Any]:
    """Delete a report and its Markdown file (cancelling its generation first if it still runs)."""
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        return {"report_id": report_id, "deleted": False}
    longjobs.cancel(report)
    longjobs.delete_with_file(report, "markdown_file")
    return {"report_id": report_id, "deleted": True}


@task(queue="validation")
def validate_report_configuration(config: dict[str, Any]) -> dict[str, Any]:
    """Pure validation; the structured result is the job's return value."""
    return validate_config(config)


@task(queue="maintenance")
def cleanup_old_reports() -> dict[str, int]:
    """Periodic (daily): finished reports older than REPORTS_RETENTION_DAYS, with their files."""
    return {"deleted": longjobs.delete_old(Report, conf.get("REPORTS_RETENTION_DAYS"), "markdown_file")}
