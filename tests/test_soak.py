"""A short run of the soak tool (benchmarks/soak.py): real workers of both backends,
flips, whole-worker SIGKILLs, a job-process SIGKILL, a Redis restart, the reconciler."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.workers import ROOT

pytestmark = pytest.mark.integration


def test_short_soak_loses_nothing_and_runs_nothing_twice():
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "TASKBRIDGE_EVENT_LOG")}
    done = subprocess.run([sys.executable, "benchmarks/soak.py", "--jobs", "300", "--flips", "50", "--settle", "150"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout[done.stdout.index("{"):])
    assert figures["dispatched"] == 300
    assert figures["ran_twice"] == 0
    assert figures["lost"] == 0
    assert figures["failed_without_event"] == []
    assert figures["ran_once"] + sum(figures["failed_visibly"].values()) == 300
    assert figures["flips"] >= 50
