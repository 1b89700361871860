"""Dispatch overhead and flip-to-effect latency.

    python benchmarks/dispatch.py [--turns 100] [--batch 100] [--flips 20]

Prints µs per enqueue for raw RQ, raw Celery, taskbridge→RQ and
taskbridge→Celery against one private redis-server (no workers: enqueue cost
only), the taskbridge/raw ratios, and the time a flag flip saved in one
process takes to change the route seen by another process (median and max
over --flips flips).

The four variants take turns in small batches and each ratio is the median
of the ratios of paired batches (see ``enqueue_costs``): on a shared 2-core
VM the cost of one enqueue drifts by 20 % from minute to minute, which
would swamp a 10 % difference measured minutes apart. The routes are set
once (a queue flag sends ``noop`` to Celery, a task flag sends ``noop_rq`` to
RQ), so no flag changes while batches are timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._setup import prepare  # noqa: E402

REDIS_URL = prepare()

import redis  # noqa: E402
from celery import current_app  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402
from waffle.models import Flag  # noqa: E402

from benchmarks.tasks import noop, noop_rq  # noqa: E402
from taskbridge import conf, routing  # noqa: E402

FLAG = conf.queue_flag_name("default")


def set_flag(everyone: bool | None) -> None:
    flag = Flag.objects.get(name=FLAG)
    flag.everyone = everyone
    flag.save()
    routing.flags.invalidate()


def _batch(n: int, send) -> float:
    start = time.perf_counter()
    for _ in range(n):
        send()
    return (time.perf_counter() - start) / n * 1e6


def enqueue_costs(turns: int = 100, batch: int = 100) -> dict[str, float]:
    """µs per enqueue of each variant, and the taskbridge/raw ratios.

    The variants take turns in batches of ``batch`` calls (raw RQ, taskbridge
    → RQ, raw Celery, taskbridge → Celery, then again), so a slow spell of a
    shared machine falls on all of them alike; a ratio is taken between the
    two batches of one turn, and the median over all turns is reported.
    """
    import django_rq

    rq_queue = django_rq.get_queue("default", serializer=JSONSerializer)
    connection = redis.Redis.from_url(REDIS_URL)
    set_flag(False)
    Flag.objects.update_or_create(name=conf.task_flag_name(noop_rq.name), defaults={"everyone": True})
    routing.flags.invalidate()
    variants = {
        "raw_rq": lambda: rq_queue.enqueue_call(noop_rq.name, args=[1, 2], timeout=3600),
        "taskbridge_rq": lambda: noop_rq.enqueue(1, 2),
        "raw_celery": lambda: current_app.send_task(noop.name, args=[1, 2], queue="default"),
        "taskbridge_celery": lambda: noop.enqueue(1, 2),
    }
    for send in variants.values():  # warm up: connections, caches, code paths
        _batch(200, send)
    connection.flushdb()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for turn in range(turns):
        for name, send in variants.items():
            times[name].append(_batch(batch, send))
        if turn % 20 == 19:
            connection.flushdb()
    connection.flushdb()
    assert noop_rq.enqueue(1, 2).backend == "rq" and noop.enqueue(1, 2).backend == "celery"
    labels = {"raw_rq": "raw RQ", "raw_celery": "raw Celery", "taskbridge_rq": "taskbridge → RQ", "taskbridge_celery": "taskbridge → Celery"}
    print(f"enqueue cost, {turns} turns of {batch} calls per variant (median µs per enqueue):")
    results: dict[str, float] = {}
    for name in variants:
        results[name] = statistics.median(times[name])
        print(f"  {labels[name]:<22} {results[name]:8.1f} µs/enqueue")
    for backend in ("rq", "celery"):
        paired = [ours / raw for ours, raw in zip(times[f"taskbridge_{backend}"], times[f"raw_{backend}"])]
        results[f"ratio_{backend}"] = statistics.median(paired)
    print(f"  ratio taskbridge/raw, median of {turns} paired turns: RQ {results['ratio_rq']:.2f}, "
          f"Celery {results['ratio_celery']:.2f} (target ≤ 1.10)")
    return results


WATCHER = """
import sys, time
sys.path.insert(0, {root!r})
import django; django.setup()
import redis
from taskbridge import routing
conn = redis.Redis.from_url({url!r})
last = None
conn.set("bench:watcher-ready", 1)
while not conn.exists("bench:stop"):
    backend = routing.route("benchmarks.tasks.noop", "default", "key").backend
    if backend != last:
        conn.rpush("bench:seen", f"{{time.time()}} {{backend}}")
        last = backend
    time.sleep(0.001)
"""


def flip_latency(flips: int) -> dict[str, float]:
    connection = redis.Redis.from_url(REDIS_URL)
    set_flag(False)
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER.format(root=str(Path(__file__).resolve().parents[1]), url=REDIS_URL)], env=os.environ)
    try:
        while not connection.exists("bench:watcher-ready"):
            time.sleep(0.05)
        time.sleep(1)
        flipped: list[tuple[float, str]] = []
        for index in range(flips):
            everyone = index % 2 == 0
            before = time.time()
            set_flag(everyone)
            flipped.append((before, "rq" if everyone else "celery"))
            time.sleep(1.2)
        connection.set("bench:stop", 1)
        watcher.wait(10)
    finally:
        watcher.kill()
    seen = [(float(t), b) for t, b in (item.decode().split() for item in connection.lrange("bench:seen", 0, -1))]
    latencies = []
    for flip_time, backend in flipped:
        first = next(t for t, b in seen if t >= flip_time and b == backend)
        latencies.append(first - flip_time)
    result = {"flip_median_s": statistics.median(latencies), "flip_max_s": max(latencies), "flips": flips}
    print(f"flip-to-effect in another process over {flips} flips: median {result['flip_median_s'] * 1000:.0f} ms, "
          f"max {result['flip_max_s'] * 1000:.0f} ms (target ≤ 1000 ms)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100, help="batches timed per variant")
    parser.add_argument("--batch", type=int, default=100, help="enqueues per batch")
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args()
    results = {**enqueue_costs(options.turns, options.batch), **flip_latency(options.flips)}
    if options.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
