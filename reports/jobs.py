"""Starting and deleting reports (called by the views); cancelling is ``notebooks.longjobs.cancel``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from notebooks import longjobs
from notebooks.models import Notebook

from .models import Report
from .tasks import delete_report_and_cleanup, process_report_generation


def start(user: AbstractBaseUser, notebook: Notebook, config: dict[str, Any]) -> Report:
    """Create the report from a validated configuration; dispatch generation on commit."""
    with transaction.atomic():
        report = Report.objects.create(user=user, notebook=notebook, title=config["title"], configuration=config)
        report.task_handle = str(process_report_generation.enqueue_on_commit(report.pk))
        report.save(update_fields=["task_handle"])
    return report


def delete(report: Report) -> str:
    """Stop the report if it runs and dispatch its deletion (row and files) on commit."""
    longjobs.cancel(report)
    return str(delete_report_and_cleanup.enqueue_on_commit(report.pk))
