"""Long jobs owned by a row with a status: podcast jobs and reports.

Such a row keeps ``str(TaskHandle)`` of its job in ``task_handle`` and has
``status``, ``updated_at`` and ``completed_at``; its model names its statuses
in ``ACTIVE`` (not finished), ``FINISHED`` and ``Status.CANCELLED``. Each app
keeps its own status names (DeepSight's).

Every status write is conditional on the status it expects, so a row
cancelled while its job runs stays cancelled whatever step the job was at;
the job checks between steps whether it was cancelled, through taskbridge
(the handle was cancelled) or through the row (the cancel service marked it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.utils import timezone

from taskbridge import TaskHandle, context


def move(row: models.Model, expected: str | tuple[str, ...], **fields: Any) -> bool:
    """Update the row in the database (not the instance) only if it is still in ``expected``;
    False when it is not (e.g. cancelled)."""
    expected = (expected,) if isinstance(expected, str) else expected
    rows = type(row)._default_manager.filter(pk=row.pk, status__in=expected)
    return bool(rows.update(updated_at=timezone.now(), **fields))


def stopped(row: models.Model) -> bool:
    """Whether the running job should stop: its handle or its row was cancelled."""
    if context.current() is not None and context.is_cancelled():
        return True
    return type(row)._default_manager.filter(pk=row.pk, status=row.Status.CANCELLED).exists()


def cancel(row: models.Model) -> bool:
    """Stop the row's job through its stored handle, then mark the row cancelled; False when
    it had already finished.

    The handle goes first: a task that notices the cancellation and returns
    then ends as ``cancelled`` in taskbridge too. Marking the row first would
    let it return in between and end as ``succeeded``."""
    row.refresh_from_db(fields=["status"])
    if row.status not in row.ACTIVE:
        return False
    if row.task_handle:
        TaskHandle.from_string(row.task_handle).cancel()
    cancelled = move(row, row.ACTIVE, status=row.Status.CANCELLED, completed_at=timezone.now())
    row.refresh_from_db()
    return cancelled


def delete_with_file(row: models.Model, file_field: str) -> None:
    file = getattr(row, file_field)
    if file:
        file.delete(save=False)
    row.delete()


def delete_old(model: type[models.Model], days: int, file_field: str) -> int:
    """Delete the finished rows last updated more than ``days`` days ago, with their files."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    deleted = 0
    for row in model._default_manager.filter(status__in=model.FINISHED, updated_at__lt=cutoff).iterator():
        delete_with_file(row, file_field)
        deleted += 1
    return deleted
