"""Report generation run inline (no workers): the writer, configuration validation,
deletion and the clean-up of old reports and their files."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notebooks.models import KnowledgeBaseItem, Notebook
from reports import tasks
from reports.models import Report
from reports.services.writer import key_sentences
from reports.validation import validate_config

Status = Report.Status


@pytest.fixture
def notebook(db, django_user_model, settings):
    settings.REPORTS_STEP_DELAY = 0
    user = django_user_model.objects.create_user("writer")
    notebook = Notebook.objects.create(user=user, name="Research")
    KnowledgeBaseItem.objects.create(
        notebook=notebook, title="Flags", parsing_status="done", source_url="https://example.org/flags",
        content="A flag decides the backend of a queue. Flags are flipped in the admin. Lunch was good today.",
    )
    return notebook


def test_validation_normalises_or_lists_every_error(settings):
    assert validate_config(None)["config"] == {"title": "Research report", "topic": "", "sections": 3, "style": "brief", "include_sources": True}
    assert validate_config({"title": "  Spaced  "})["config"]["title"] == "Spaced"
    result = validate_config({"title": 3, "topic": "x" * 501, "sections": 51, "style": "long", "include_sources": "yes", "x": 1})
    assert result["valid"] is False and result["config"] is None
    assert [e["field"] for e in result["errors"]] == ["x", "title", "topic", "sections", "style", "include_sources"]
    settings.REPORTS_MAX_SECTIONS = 5
    assert validate_config({"sections": 6})["errors"][0]["message"] == "must be an integer from 1 to 5"
    assert tasks.validate_report_configuration([1])["errors"] == [{"field": "config", "message": "must be a JSON object"}]


def test_key_sentences_prefer_the_topic():
    text = "Flags decide the backend. The weather was mild. Flags are flipped by operators."
    assert key_sentences(text, 1, "flags operators") == ["Flags are flipped by operators."]


def test_generation_inline_writes_markdown(notebook):
    config = validate_config({"title": "On flags", "topic": "flag backend", "sections": 2})["config"]
    report = Report.objects.create(user=notebook.user, notebook=notebook, title="On flags", configuration=config)
    assert tasks.process_report_generation(report.pk)["status"] == "completed"
    report.refresh_from_db()
    assert report.status == Status.COMPLETED and report.progress == 2
    assert report.content.startswith("# On flags\n\n*Topic: flag backend*")
    assert "## 1. Flags" in report.content and "- Flags — <https://example.org/flags>" in report.content
    with report.markdown_file.open("rb") as stored:
        assert stored.read().decode() == report.content


def test_delete_task_removes_row_and_file(notebook):
    report = Report.objects.create(user=notebook.user, notebook=notebook, title="R", status=Status.COMPLETED)
    report.markdown_file.save("report.md", ContentFile(b"# R"), save=True)
    key = report.markdown_file.name
    assert tasks.delete_report_and_cleanup(report.pk) == {"report_id": report.pk, "deleted": True}
    assert not Report.objects.filter(pk=report.pk).exists() and not default_storage.exists(key)
    assert tasks.delete_report_and_cleanup(report.pk)["deleted"] is False


def test_cleanup_deletes_old_finished_reports_and_their_files(notebook):
    def report(status: str, days_old: int) -> Report:
        created = Report.objects.create(user=notebook.user, notebook=notebook, title=status, status=status)
        created.markdown_file.save("report.md", ContentFile(b"# x"), save=True)
        Report.objects.filter(pk=created.pk).update(updated_at=timezone.now() - dt.timedelta(days=days_old))
        return created

    old, recent, running = report(Status.CANCELLED, 31), report(Status.COMPLETED, 1), report(Status.RUNNING, 90)
    assert tasks.cleanup_old_reports() == {"deleted": 1}
    assert set(Report.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not default_storage.exists(old.markdown_file.name)
