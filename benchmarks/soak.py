"""Soak: N jobs from 4 dispatching processes across >= 50 flag flips, with whole-worker
SIGKILLs of each backend, a job-process SIGKILL and a Redis restart (AOF), and the
reconciler running. Prints dispatched / ran once / ran twice / lost / failed visibly (with
reasons) / longest time to detect a dead worker. Nobody calls status().

    python benchmarks/soak.py --jobs 10000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DISPATCHERS = 4


def _redis_server(port: int, directory: str) -> subprocess.Popen:
    from tests.support.redis_server import redis_server_binary

    return subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
                             "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_redis(url: str, timeout: float = 20) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _start(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _kill_whole(process: subprocess.Popen) -> None:
    import psutil

    family = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()


def dispatcher(index: int, jobs: int, out: Path) -> None:
    import django

    django.setup()
    from taskbridge.errors import EnqueueError
    from tests.taskapp import tasks

    with open(out, "a") as sink:
        for number in range(jobs):
            token = f"{index}-{number}"
            while True:
                try:
                    handle = tasks.mark.enqueue(token)
                    break
                except EnqueueError:
                    time.sleep(0.2)  # refused, and the caller knows: dispatched again, not lost
            sink.write(f"{handle.job_id} {token}\n")
            sink.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--flips", type=int, default=50)
    parser.add_argument("--settle", type=float, default=240, help="seconds to wait for every job to end")
    parser.add_argument("--dispatcher", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.dispatcher is not None:
        return dispatcher(options.dispatcher, options.jobs, Path(options.out))
    print(json.dumps(run(options.jobs, options.flips, options.settle), indent=2))


def run(jobs: int, flips: int, settle: float) -> dict:
    from tests.support.redis_server import free_port

    scratch = Path(tempfile.mkdtemp(prefix="taskbridge-soak-"))
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port, str(scratch))
    _wait_redis(url)
    os.environ.update(REDIS_URL=url, DATABASE_URL=f"sqlite:///{scratch / 'soak.sqlite3'}",
                      TASKBRIDGE_EVENT_LOG=str(scratch / "events.log"), DJANGO_SETTINGS_MODULE="backend.settings.test",
                      TASKBRIDGE_TEST_SQLITE=str(scratch / "unused.sqlite3"), PYTHONUNBUFFERED="1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from taskbridge.flags import set_route
    from tests.support.workers import celery_worker_command, rq_worker_command

    queues = ["default"]
    procs = {
        "celery": _start(celery_worker_command(queues, concurrency=2, name="soak"), scratch / "celery.log"),
        "rq": _start(rq_worker_command(queues, name="soak-rq"), scratch / "rq.log"),
        "reconciler": _start([sys.executable, "manage.py", "taskbridge", "reconcile"], scratch / "reconciler.log"),
    }
    time.sleep(8)
    out = scratch / "dispatched.txt"
    share = jobs // DISPATCHERS
    senders = [_start([sys.executable, __file__, "--dispatcher", str(i), "--jobs", str(share + (jobs % DISPATCHERS if i == 0 else 0)),
                       "--out", str(out)], scratch / f"dispatch-{i}.log") for i in range(DISPATCHERS)]
    targets = ["candidate", "baseline", 25, 50, 75, None]
    faults = ["rq", "celery", "job", "redis"]
    kills: dict[str, float] = {}
    restarts = 0
    commands = {"rq": rq_worker_command(queues, name="soak-rq"), "celery": celery_worker_command(queues, 2, "soak"),
                "reconciler": [sys.executable, "manage.py", "taskbridge", "reconcile"]}
    flip = 0
    started = last_fault = time.monotonic()
    while any(s.poll() is None for s in senders) or flip < flips or faults:
        for name, process in list(procs.items()):  # the process manager: restart what exited
            if process.poll() is not None:
                restarts += 1
                procs[name] = _start(commands[name], scratch / f"{name}-restart{restarts}.log")
        try:
            set_route("default", targets[flip % len(targets)], origin="code", reason="soak")
        except Exception:
            pass  # Redis restarting: the flip is in the database, the event is what failed
        flip += 1
        done = sum(1 for _ in open(out)) if out.exists() else 0
        if faults and done >= jobs * (5 - len(faults)) / 6 and time.monotonic() - last_fault > 10:
            last_fault = time.monotonic()
            fault = faults.pop(0)
            if fault in ("rq", "celery"):
                kills[fault] = time.time()
                _kill_whole(procs[fault])
                time.sleep(1)
                command = rq_worker_command(queues, name="soak-rq2") if fault == "rq" else celery_worker_command(queues, 2, "soak2")
                procs[fault] = _start(command, scratch / f"{fault}2.log")
            elif fault == "job":
                import psutil

                children = psutil.Process(procs["celery"].pid).children()
                if children:
                    children[0].kill()
            else:
                server.send_signal(signal.SIGTERM)
                server.wait()
                time.sleep(5)
                server = _redis_server(port, str(scratch))
                _wait_redis(url)
        time.sleep(0.2)
    dispatch_seconds = time.monotonic() - started
    results = _settle(out, settle)
    for process in procs.values():
        _kill_whole(process)
    server.send_signal(signal.SIGTERM)
    events = [json.loads(line) for line in open(scratch / "events.log") if line.strip()]
    detect = [e for e in events if e["event"] == "worker.lost"]
    longest = 0.0
    for fault, at in kills.items():
        seen = [e for e in detect if e.get("backend") == fault]
        if seen:
            import datetime as dt

            first = min(dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() for e in seen)
            longest = max(longest, first - at)
    failed_events = {e["job_id"] for e in events if e["event"] == "task.failed"}
    results.update(flips=flip, restarts_by_process_manager=restarts, dispatch_seconds=round(dispatch_seconds, 1), longest_dead_worker_detection_s=round(longest, 1),
                   failed_without_event=sorted(set(results.pop("failed_ids")) - failed_events), scratch=str(scratch))
    return results


def _settle(out: Path, settle: float) -> dict:
    import redis
    from django.conf import settings

    from taskbridge.ledger import ledger

    conn = redis.Redis.from_url(settings.REDIS_URL)
    lines = [line.split() for line in open(out) if line.strip()]
    deadline = time.monotonic() + settle
    while True:
        records = {job_id: ledger().get(job_id) for job_id, _ in lines}
        pending = [j for j, r in records.items() if r is None or not r.state.is_finished]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(2)
    counts = {token: int(conn.get(f"tb-test:count:{token}") or 0) for _, token in lines}
    reasons = collections.Counter(r.error_type for r in records.values() if r is not None and r.state == "failed")
    return {
        "dispatched": len(lines),
        "ran_once": sum(1 for c in counts.values() if c == 1),
        "ran_twice": sum(1 for c in counts.values() if c > 1),
        "lost": sum(1 for (j, t) in lines if counts[t] == 0 and (records[j] is None or not records[j].state.is_finished)),
        "failed_visibly": dict(reasons),
        "failed_ids": [j for j, r in records.items() if r is not None and r.state == "failed"],
    }


if __name__ == "__main__":
    main()
