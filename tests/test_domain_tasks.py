"""The domain apps carry DeepSight's task set (names, queues, arguments) on taskbridge,
and none of their modules imports a task backend."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from django.conf import settings

from taskbridge import ArgumentError
from taskbridge.declaration import get_task

ROOT = Path(__file__).resolve().parent.parent
APPS = ("notebooks", "podcast", "reports")
BACKEND_PACKAGES = {"celery", "rq", "django_rq", "rq_scheduler", "kombu", "billiard"}

URL_ARGS = ["url", "notebook_id", "user_id", "upload_url_id", "batch_job_id", "batch_item_id"]

# reference/deepsight-tasks.md, one row per task: (app.tasks.name, queue, parameters)
REFERENCE = [
    ("notebooks.tasks.process_url_task", "notebook_processing", [*URL_ARGS, "kb_item_id"]),
    ("notebooks.tasks.process_url_media_task", "notebook_processing", URL_ARGS),
    ("notebooks.tasks.process_url_document_task", "notebook_processing", URL_ARGS),
    # file_data (bytes) became file_key: the file is stored first and its key travels.
    ("notebooks.tasks.process_file_upload_task", "notebook_processing",
     ["file_key", "filename", "notebook_id", "user_id", "upload_file_id", "batch_job_id", "batch_item_id"]),
    ("notebooks.tasks.generate_image_captions_task", "notebook_processing", ["kb_item_id"]),
    ("notebooks.tasks.upload_to_ragflow_task", "notebook_processing", ["kb_item_id"]),
    ("notebooks.tasks.check_ragflow_status_task", "notebook_processing", ["kb_item_id", "max_retries"]),
    ("notebooks.tasks.cleanup_old_batch_jobs", "maintenance", []),
    ("notebooks.tasks.test_caption_generation_task", "notebook_processing", ["kb_item_id"]),
    ("notebooks.tasks.health_check_task", "default", []),
    ("podcast.tasks.process_podcast_generation", "podcast", ["job_id"]),
    ("podcast.tasks.cancel_podcast_generation", "podcast", ["job_id"]),
    ("podcast.tasks.cleanup_old_podcast_jobs", "maintenance", []),
    ("reports.tasks.process_report_generation", "reports", ["report_id"]),
    ("reports.tasks.cleanup_old_reports", "maintenance", []),
    ("reports.tasks.delete_report_and_cleanup", "reports", ["report_id"]),
    ("reports.tasks.validate_report_configuration", "validation", ["config"]),
]


def _app_sources() -> list[Path]:
    return [path for app in APPS for path in sorted((ROOT / app).rglob("*.py"))]


def test_no_app_module_imports_celery_or_rq():
    offenders = []
    for path in _app_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in BACKEND_PACKAGES]
    assert _app_sources(), "found no app modules to scan"
    assert offenders == []


@pytest.mark.parametrize("name,queue,parameters", REFERENCE, ids=[row[0].rsplit(".", 1)[-1] for row in REFERENCE])
def test_every_reference_task_is_declared(name, queue, parameters):
    declared = get_task(name)
    assert declared is not None, f"{name} is not declared"
    assert declared.name == name and declared.queue == queue
    assert list(inspect.signature(declared.func).parameters) == parameters


def test_status_poller_defaults_to_ten_retries():
    assert inspect.signature(get_task("notebooks.tasks.check_ragflow_status_task").func).parameters["max_retries"].default == 10


def test_the_periodic_schedule_names_declared_tasks():
    for entry in settings.TASKBRIDGE["SCHEDULE"].values():
        assert get_task(entry["task"]) is not None, entry


def test_bytes_are_refused_at_dispatch():
    from notebooks.tasks import process_file_upload_task

    with pytest.raises(ArgumentError, match="store the bytes first"):
        process_file_upload_task.enqueue(b"%PDF-1.4", "a.pdf", 1, 1)


@pytest.mark.parametrize("path", [
    "notebooks/notebook", "notebooks/knowledgebaseitem", "notebooks/batchjob", "podcast/podcastjob", "reports/report",
])
def test_admin_lists_every_model(admin_client, path):
    assert admin_client.get(f"/admin/{path}/").status_code == 200
