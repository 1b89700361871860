"""Starting, cancelling and deleting reports (called by the views and the report tasks)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from notebooks.models import Notebook
from taskbridge import TaskHandle

from .generation import move
from .models import Report
from .tasks import delete_report_and_cleanup, process_report_generation


def start(user: AbstractBaseUser, notebook: Notebook, config: dict[str, Any]) -> Report:
    """Create the report from a validated configuration; dispatch generation on commit."""
    with transaction.atomic():
        report = Report.objects.create(user=user, notebook=notebook, title=config["title"], configuration=config)
        report.task_handle = str(process_report_generation.enqueue_on_commit(report.pk))
        report.save(update_fields=["task_handle"])
    return report


def cancel(report: Report) -> bool:
    """Stop the report's job through its stored handle, then mark it cancelled; False when
    it had already finished. (Handle first, as in podcast.jobs.cancel.)"""
    report.refresh_from_db(fields=["status"])
    if report.status not in Report.ACTIVE:
        return False
    if report.task_handle:
        TaskHandle.from_string(report.task_handle).cancel()
    cancelled = move(report.pk, Report.ACTIVE, status=Report.Status.CANCELLED, completed_at=timezone.now())
    report.refresh_from_db()
    return cancelled


def delete(report: Report) -> str:
    """Stop the report if it runs and dispatch its deletion (row and files) on commit."""
    cancel(report)
    with transaction.atomic():
        return str(delete_report_and_cleanup.enqueue_on_commit(report.pk))
