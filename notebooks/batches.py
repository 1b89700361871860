"""Keeping a batch job's items and counters in step with the sources they track."""

from __future__ import annotations

import datetime as dt

from django.db.models import Case, Count, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import BatchItem, BatchJob


def mark_item(batch_item_id: int | None, status: str, *, kb_item_id: int | None = None, error: str = "") -> None:
    if batch_item_id is None:
        return
    fields = {"status": status, "error_message": error, "updated_at": timezone.now()}
    if kb_item_id is not None:
        fields["kb_item_id"] = kb_item_id
    BatchItem.objects.filter(pk=batch_item_id).update(**fields)


def refresh_job(batch_job_id: int | None) -> None:
    """Recount a batch job's items and set its status from the counts.

    Two single UPDATE statements with subqueries rather than read-then-write:
    items of one batch finish concurrently on several workers, and on SQLite a
    transaction that reads and then writes fails with "database is locked"."""
    if batch_job_id is None:
        return
    items = BatchItem.objects.filter(batch_job=OuterRef("pk")).order_by().values("batch_job")

    def count(**where: str) -> Subquery:
        return Subquery(items.filter(**where).annotate(n=Count("pk")).values("n")[:1])

    jobs = BatchJob.objects.filter(pk=batch_job_id)
    jobs.update(
        total_items=Coalesce(count(), 0),
        completed_items=Coalesce(count(status=BatchItem.Status.COMPLETED), 0),
        failed_items=Coalesce(count(status=BatchItem.Status.FAILED), 0),
        updated_at=timezone.now(),
    )
    jobs.update(status=Case(
        When(total_items__gt=F("completed_items") + F("failed_items"), then=Value(BatchJob.Status.PROCESSING)),
        When(failed_items=0, then=Value(BatchJob.Status.COMPLETED)),
        When(completed_items=0, then=Value(BatchJob.Status.FAILED)),
        default=Value(BatchJob.Status.PARTIALLY_COMPLETED),
    ))


def item_finished(batch_job_id: int | None, batch_item_id: int | None, *, kb_item_id: int, error: str = "") -> None:
    mark_item(batch_item_id, BatchItem.Status.FAILED if error else BatchItem.Status.COMPLETED, kb_item_id=kb_item_id, error=error)
    refresh_job(batch_job_id)


def cleanup_old(days: int) -> int:
    """Delete finished batch jobs (and their items) last updated more than ``days`` days ago."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    _, per_model = BatchJob.objects.filter(status__in=BatchJob.FINISHED, updated_at__lt=cutoff).delete()
    return per_model.get(BatchJob._meta.label, 0)
