"""Dispatch overhead and flip-to-effect latency.

    python benchmarks/dispatch.py [--n 2000] [--rounds 5] [--flips 20]

Prints µs per enqueue for raw RQ, raw Celery, taskbridge→RQ and
taskbridge→Celery against one private redis-server (no workers: enqueue cost
only, queues flushed between rounds, rounds interleaved), the taskbridge/raw
ratios, and the time a
flag flip saved in one process takes to change the route seen by another
process (median and max over --flips flips).
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

from benchmarks.tasks import noop  # noqa: E402
from taskbridge import conf, routing  # noqa: E402

FLAG = conf.queue_flag_name("default")


def set_flag(everyone: bool | None) -> None:
    flag = Flag.objects.get(name=FLAG)
    flag.everyone = everyone
    flag.save()
    routing.flags.invalidate()


def _round(n: int, send) -> float:
    start = time.perf_counter()
    for _ in range(n):
        send()
    return (time.perf_counter() - start) / n * 1e6


def enqueue_costs(n: int, rounds: int = 5) -> dict[str, float]:
    """Best µs per enqueue of each variant. Rounds are interleaved (A B C D, A B C D, …)
    so that a slow spell of a shared machine hits every variant, not just one."""
    import django_rq

    rq_queue = django_rq.get_queue("default", serializer=JSONSerializer)
    connection = redis.Redis.from_url(REDIS_URL)
    variants = {
        "raw_rq": (None, lambda: rq_queue.enqueue_call(noop.name, args=[1, 2], timeout=3600)),
        "raw_celery": (None, lambda: current_app.send_task(noop.name, args=[1, 2], queue="default")),
        "taskbridge_rq": (True, lambda: noop.enqueue(1, 2)),
        "taskbridge_celery": (False, lambda: noop.enqueue(1, 2)),
    }
    best = dict.fromkeys(variants, float("inf"))
    for index in range(rounds + 1):
        for name, (flag, send) in variants.items():
            if flag is not None:
                set_flag(flag)
            took = _round(n if index else min(200, n), send)
            connection.flushdb()
            if index:
                best[name] = min(best[name], took)
    labels = {"raw_rq": "raw RQ", "raw_celery": "raw Celery", "taskbridge_rq": "taskbridge → RQ", "taskbridge_celery": "taskbridge → Celery"}
    print(f"enqueue cost, best of {rounds} interleaved rounds of {n}:")
    for name, value in best.items():
        print(f"  {labels[name]:<22} {value:8.1f} µs/enqueue")
    results = dict(best)
    results["ratio_rq"] = best["taskbridge_rq"] / best["raw_rq"]
    results["ratio_celery"] = best["taskbridge_celery"] / best["raw_celery"]
    print(f"  ratio taskbridge/raw: RQ {results['ratio_rq']:.2f}, Celery {results['ratio_celery']:.2f} (target ≤ 1.10)")
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
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args()
    results = {**enqueue_costs(options.n, options.rounds), **flip_latency(options.flips)}
    if options.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
