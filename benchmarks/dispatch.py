"""Dispatch overhead and flip-to-effect latency.

    python benchmarks/dispatch.py [--turns 100] [--batch 100] [--flips 20] [--processes 2,8] [--idle 10]

Prints µs per enqueue for raw RQ, raw Celery, taskbridge→RQ and
taskbridge→Celery against one private redis-server (no workers: enqueue cost
only; ``--turns 0`` skips it), the taskbridge/raw ratios, and, for each
number of routing processes in ``--processes``: the time a flag flip saved in
this process takes to change the route seen by each of the others (median,
p99 and max over every flip and process), and how often those processes read
the flags from the database while nothing changes (``--idle`` seconds) and
per flip.

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
index, last, reads, started = {index}, None, -1, time.monotonic()
while not conn.exists("bench:stop"):
    backend = routing.route("benchmarks.tasks.noop", "default", "key").backend
    now = time.time()
    if backend != last:
        conn.rpush(f"bench:seen:{{index}}", f"{{now}} {{backend}}")
        last = backend
    if routing.flags.reads != reads:
        reads = routing.flags.reads
        conn.hset("bench:reads", index, reads)
    if time.monotonic() - started > 2 and not conn.hexists("bench:ready", index):
        conn.hset("bench:ready", index, 1)  # past its second version check: listening
    time.sleep({poll})
"""


def _total_reads(connection: redis.Redis) -> int:
    return sum(int(value) for value in connection.hvals("bench:reads"))


def flips_across_processes(processes: int, flips: int, idle: float, poll: float = 0.002) -> dict[str, float]:
    """Flip-to-effect seen by ``processes`` other processes, each routing every ``poll`` s, and
    the database reads of the flags they make while nothing changes and per flip."""
    connection = redis.Redis.from_url(REDIS_URL)
    connection.delete("bench:stop", "bench:ready", "bench:reads", *[f"bench:seen:{i}" for i in range(processes)])
    set_flag(False)
    root = str(Path(__file__).resolve().parents[1])
    watchers = [
        subprocess.Popen([sys.executable, "-c", WATCHER.format(root=root, url=REDIS_URL, index=i, poll=poll)], env=os.environ)
        for i in range(processes)
    ]
    try:
        while connection.hlen("bench:ready") < processes:
            time.sleep(0.05)
        before, idle_start = _total_reads(connection), time.monotonic()
        time.sleep(idle)
        idle_reads = (_total_reads(connection) - before) / (time.monotonic() - idle_start)
        before = _total_reads(connection)
        flipped: list[tuple[float, str]] = []
        for index in range(flips):
            everyone = index % 2 == 0
            at = time.time()
            set_flag(everyone)
            flipped.append((at, "rq" if everyone else "celery"))
            time.sleep(0.6)
        flip_reads = (_total_reads(connection) - before) / flips
        connection.set("bench:stop", 1)
        for watcher in watchers:
            watcher.wait(10)
    finally:
        for watcher in watchers:
            watcher.kill()
    latencies = []
    for i in range(processes):
        seen = [(float(t), b) for t, b in (item.decode().split() for item in connection.lrange(f"bench:seen:{i}", 0, -1))]
        for flip_time, backend in flipped:
            latencies.append(next(t for t, b in seen if t >= flip_time and b == backend) - flip_time)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    result = {
        "processes": processes, "flips": flips, "flip_median_s": statistics.median(latencies), "flip_p99_s": p99,
        "flip_max_s": latencies[-1], "idle_reads_per_s": idle_reads, "reads_per_flip": flip_reads,
    }
    print(f"{processes} processes routing every {poll * 1000:g} ms, {flips} flips 0.6 s apart:")
    print(f"  flip-to-effect over {len(latencies)} (flip, process) pairs: median {result['flip_median_s'] * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {result['flip_max_s'] * 1000:.0f} ms (targets: median ≤ 100 ms, p99 ≤ 250 ms)")
    print(f"  flag reads from the database: {idle_reads:.2f}/s over {idle:g} s without changes "
          f"(all {processes} processes together); {flip_reads:.1f} per flip")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100, help="batches timed per variant")
    parser.add_argument("--batch", type=int, default=100, help="enqueues per batch")
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--processes", default="2,8", help="comma-separated numbers of routing processes")
    parser.add_argument("--idle", type=float, default=10, help="seconds without changes to count flag reads")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args()
    results: dict = enqueue_costs(options.turns, options.batch) if options.turns else {}
    results["flags"] = [flips_across_processes(int(n), options.flips, options.idle) for n in options.processes.split(",")]
    if options.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
