"""The live stream's cost on the dispatch path, and the guard on real workers.

    python benchmarks/guard.py [--turns 40] [--batch 100] [--seconds 120] [--rate 15]

1. µs per ``task.enqueue()`` with the live stream on and off (``LIVE_STREAM_MAXLEN``
   0), in paired batches taking turns (as benchmarks/dispatch.py does), and the ratio.
2. A healthy 25 % canary with noisy run times (log-normal sleeps) for ``--seconds``
   against a real Celery worker, a real RQ worker and ``manage.py taskbridge guard``:
   prints the guard's rollbacks (false rollbacks: there should be none).
3. The same canary with an RQ worker started with a wrong database URL: prints the
   time from its first failed job to the guard's rollback, and the jobs sent.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._setup import prepare  # noqa: E402

REDIS_URL = prepare("backend.settings.test")

from django.conf import settings  # noqa: E402

from taskbridge import set_route  # noqa: E402
from taskbridge.compare.times import parse_iso  # noqa: E402
from taskbridge.models import RouteChange  # noqa: E402
from tests.support.workers import ROOT, WorkerProcess, celery_worker_command, rq_worker_command, wait_for_celery, wait_for_rq  # noqa: E402
from tests.taskapp.tasks import add, count_users  # noqa: E402

QUEUE = "default"


def enqueue_cost(turns: int, batch: int) -> None:
    set_route(QUEUE, "candidate")
    base = settings.TASKBRIDGE
    timings: dict[bool, list[float]] = {True: [], False: []}
    ratios = []
    for _ in range(turns):
        pair = {}
        for on in (True, False):
            settings.TASKBRIDGE = {**base, "LIVE_STREAM_MAXLEN": 100_000 if on else 0}
            started = time.perf_counter()
            for index in range(batch):
                add.enqueue(index, 1)
            pair[on] = (time.perf_counter() - started) / batch * 1e6
            timings[on].append(pair[on])
        ratios.append(pair[True] / pair[False])
    settings.TASKBRIDGE = base
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the timed jobs must not queue ahead of the canary's (private server)
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    print(f"enqueue to the candidate, live stream on: {on:.0f} µs, off: {off:.0f} µs, paired ratio {statistics.median(ratios):.3f} ({turns} turns x {batch})")


def canary(seconds: float, rate: float, broken: bool, scratch: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    rq_env = {**env, "DATABASE_URL": f"sqlite:///{scratch}/missing/none.sqlite3"} if broken else env
    label = "broken" if broken else "healthy"
    celery = WorkerProcess("celery", celery_worker_command([QUEUE], name=f"bench-{label}"), env, scratch / f"celery-{label}.log", name=f"bench-{label}").start()
    rq = WorkerProcess("rq", rq_worker_command([QUEUE], name=f"bench-{label}-rq"), rq_env, scratch / f"rq-{label}.log", name=f"bench-{label}-rq").start()
    guard = subprocess.Popen([sys.executable, "manage.py", "taskbridge", "guard"], cwd=ROOT, env=env,
                             stdout=open(scratch / f"guard-{label}.log", "ab"), stderr=subprocess.STDOUT)
    try:
        wait_for_celery(celery, REDIS_URL)
        wait_for_rq(rq, REDIS_URL)
        set_route(QUEUE, "baseline")
        before = RouteChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
        set_route(QUEUE, 25)
        rng = random.Random(5)
        started, sent = time.time(), 0
        while time.time() - started < seconds:
            count_users.enqueue(pause=min(rng.lognormvariate(-3.5, 1.0), 0.5))
            sent += 1
            if broken and RouteChange.objects.filter(id__gt=before, origin="guard").exists():
                break
            time.sleep(1 / rate)
        time.sleep(3)
        rollbacks = list(RouteChange.objects.filter(id__gt=before, origin="guard"))
        if not broken:
            print(f"healthy 25% canary, {seconds:.0f}s, {sent} jobs sent: {len(rollbacks)} rollback(s) by the guard (false rollbacks)")
            return
        import json

        failures = [
            parse_iso(event["timestamp"]) for event in map(json.loads, open(os.environ["TASKBRIDGE_EVENT_LOG"]))
            if event["event"] == "task.failed" and event.get("backend") == "rq" and parse_iso(event["timestamp"]) >= started
        ]
        if not rollbacks or not failures:
            print(f"failing 25% canary: no rollback within {seconds:.0f}s ({len(failures)} failures)")
            return
        print(f"failing 25% canary: rolled back {rollbacks[0].changed_at.timestamp() - min(failures):.1f}s after the first failed job "
              f"({len(failures)} failed on rq, {sent} jobs sent)")
    finally:
        guard.terminate()
        guard.wait(15)
        celery.stop()
        rq.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=15.0, help="jobs dispatched per second")
    options = parser.parse_args()
    scratch = Path(os.environ["TASKBRIDGE_EVENT_LOG"]).parent
    enqueue_cost(options.turns, options.batch)
    canary(options.seconds, options.rate, broken=False, scratch=scratch)
    canary(60.0, options.rate, broken=True, scratch=scratch)


if __name__ == "__main__":
    main()
