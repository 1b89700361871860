"""The end state of the migration: Celery removed the way docs/architecture.md says
(no backend/celery.py, no CELERY_* settings, only the RQ backend, which is both
baseline and candidate), and celery not
importable. The project must still start, declare its tasks and dispatch them."""

import re
import shutil
import subprocess
import sys

from tests.support.workers import ROOT

RQ_ONLY = """
import sys
sys.modules["celery"] = None  # as if celery were uninstalled
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("check")
from tests.taskapp.tasks import add
handle = add.enqueue(1, 2)
print(handle.backend, handle.status().value)
"""


def _remove_celery(project):
    (project / "backend" / "celery.py").unlink()
    (project / "backend" / "__init__.py").write_text("")
    settings = project / "backend" / "settings" / "base.py"
    text = re.sub(r"^CELERY_.*\n", "", settings.read_text(), flags=re.M)
    text += (
        '\nTASKBRIDGE["BACKENDS"] = {"rq": TASKBRIDGE["BACKENDS"]["rq"]}'
        '\nTASKBRIDGE["BASELINE"] = TASKBRIDGE["CANDIDATE"] = "rq"\n'
    )
    settings.write_text(text)


def test_project_runs_with_celery_removed(worker_env, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".git", ".venv", "media*", "*.sqlite3", "__pycache__"))
    _remove_celery(project)
    env = {**worker_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'rq-only.sqlite3'}"}
    result = subprocess.run([sys.executable, "-c", RQ_ONLY], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].split() == ["rq", "queued"]
