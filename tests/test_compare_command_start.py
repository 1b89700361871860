"""``manage.py taskbridge compare`` from a real command line: it imports only its own subcommand module
and runs without Django's system checks; ``taskbridge --help`` still lists every subcommand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.compare_fixtures import NOW, known_log, stamp

ROOT = Path(__file__).resolve().parent.parent

# Runs manage.py's own entry in a fresh interpreter, counting system-check runs, then reports what got imported.
PROBE = """
import json, sys
from django.core.management import execute_from_command_line
from django.core.management.base import BaseCommand
checks = []
original = BaseCommand.check
def counting(self, *args, **kwargs):
    checks.append(1)
    return original(self, *args, **kwargs)
BaseCommand.check = counting
status = 0
try:
    execute_from_command_line(["manage.py", *sys.argv[1:]])
except SystemExit as leaving:
    status = leaving.code or 0
except Exception:
    status = "raised"
finally:
    loaded = sorted(name for name in sys.modules if name.startswith(("taskbridge.cli.", "taskbridge.backends.rq.cli_")))
    print(json.dumps({"status": status, "checks": len(checks), "loaded": loaded}), file=sys.stderr)
"""


def run_manage(*args: str, **extra_env: str) -> tuple[str, dict]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings.dev", **extra_env}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, probe


def test_compare_imports_only_its_module_and_skips_system_checks(tmp_path: Path):
    log = tmp_path / "events.log"
    log.write_text(known_log().text())
    out, probe = run_manage("taskbridge", "compare", str(log), "--json", "--now", stamp(NOW), "--min-samples", "3")
    assert probe["status"] == 0
    assert json.loads(out)["verdict"] == "hold"
    assert probe["loaded"] == ["taskbridge.cli.compare"]
    assert probe["checks"] == 0


def test_a_backend_subcommand_loads_only_its_module():
    out, probe = run_manage("taskbridge", "scheduler", "--help")
    assert probe["status"] == 0 and "--interval" in out
    assert probe["loaded"] == ["taskbridge.backends.rq.cli_scheduler"]


def test_a_subcommand_that_keeps_the_checks_runs_them(tmp_path: Path):
    # an empty database of its own: whatever status then finds, the checks ran first
    _out, probe = run_manage("taskbridge", "status", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert probe["loaded"] == ["taskbridge.cli.status"]
    assert probe["checks"] == 1


def test_help_lists_every_subcommand():
    out, probe = run_manage("taskbridge", "--help")
    assert probe["status"] == 0
    for name in ("compare", "status", "scheduler", "schedule-sync"):
        assert name in out
    assert "taskbridge.cli.status" in probe["loaded"] and "taskbridge.backends.rq.cli_schedule_sync" in probe["loaded"]
