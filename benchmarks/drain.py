"""Worker throughput: real workers drain a backlog of no-op jobs, raw against taskbridge.

    python benchmarks/drain.py [--rounds 5] [--jobs 400] [--only rq|celery]

Each round, for each variant: a backlog of ``--jobs`` no-op jobs is put on
the ``default`` queue of a private redis-server with no worker running, then
one worker is started with its documented command and the queue's length is
sampled every 2 ms until it is empty. The rate is the jobs taken from the
queue per second between the moment the first ``SKIP`` jobs are gone (so the
worker's start-up and first, cold jobs are left out) and the moment the queue
is empty. The worker is then stopped (SIGTERM) and the next variant runs.
Over the same window, the CPU time of the worker's processes (its session:
pool processes, work horses) and of the redis-server is read from ``/proc``;
CPU ms per job is the figure least disturbed by other load on a shared
machine (the redis-server's includes the benchmark's own sampling, the same
for every variant).

What is compared (like with like; see docs/performance.md):

* raw Celery: ``celery -A benchmarks.raw worker -Q default -c 2`` — the
  project's Celery app before taskbridge (``backend/celery.py`` without
  ``configure(app)``: Celery's defaults, the same Redis broker and result
  backend), running a plain ``@app.task``;
* taskbridge → Celery: ``celery -A backend worker -Q default -c 2`` (the
  documented command), running a ``@taskbridge.task`` dispatched with
  ``enqueue()``;
* raw RQ: ``manage.py rqworker --worker-class rq.Worker --job-class rq.job.Job``
  with RQ's JSON serializer: stock RQ's forking worker running a plain
  function, enqueued with ``Queue.enqueue_call``;
* taskbridge → RQ: ``manage.py rqworker`` (the documented command, settings.RQ
  names taskbridge's worker and job classes), running a ``@taskbridge.task``.

Both RQ workers run ``--with-scheduler`` as documented. Variants take turns
within a round, in reverse order every other round; the figure per variant is
the median over rounds, and each ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._setup import ROOT, prepare  # noqa: E402

REDIS_URL = prepare("benchmarks.settings")

import redis  # noqa: E402

from benchmarks.tasks import noop, noop_rq  # noqa: E402
from taskbridge import set_route  # noqa: E402

SKIP = 20
BIN = Path(sys.executable).parent
QUEUE = "default"


def _celery(app: str) -> list[str]:
    return [str(BIN / "celery"), "-A", app, "worker", "-Q", QUEUE, "-c", "2", "-n", f"drain-{app}@%h", "-l", "warning",
            "--without-gossip", "--without-mingle"]


def _rqworker(*extra: str) -> list[str]:
    return [sys.executable, "manage.py", "rqworker", "--with-scheduler", *extra, QUEUE]


def _enqueue_raw_celery(n: int) -> None:
    from benchmarks.raw import app

    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task("benchmarks.raw.celery_add", args=[1, 2], queue=QUEUE, producer=producer)


def _enqueue_raw_rq(n: int) -> None:
    import django_rq
    from rq.serializers import JSONSerializer

    queue = django_rq.get_queue(QUEUE, serializer=JSONSerializer)
    for _ in range(n):
        queue.enqueue_call("benchmarks.raw.add", args=[1, 2])


def _enqueue_taskbridge(task):
    def enqueue(n: int) -> None:
        for _ in range(n):
            task.enqueue(1, 2)
    return enqueue


VARIANTS = {
    "raw_celery": ("celery", _celery("benchmarks.raw"), _enqueue_raw_celery),
    "taskbridge_celery": ("celery", _celery("backend"), _enqueue_taskbridge(noop)),
    "raw_rq": ("rq", _rqworker("--worker-class", "rq.Worker", "--job-class", "rq.job.Job",
                               "--serializer", "rq.serializers.JSONSerializer"), _enqueue_raw_rq),
    "taskbridge_rq": ("rq", _rqworker(), _enqueue_taskbridge(noop_rq)),
}
LABELS = {"raw_celery": "raw Celery (-c 2)", "taskbridge_celery": "taskbridge → Celery (-c 2)",
          "raw_rq": "raw RQ (forking Worker)", "taskbridge_rq": "taskbridge → RQ (forking Worker)"}


def _queue_key(kind: str) -> str:
    return QUEUE if kind == "celery" else f"rq:queue:{QUEUE}"


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by one process (the redis-server)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def session_cpu(session: int) -> float:
    """CPU seconds used so far by the processes of a session (a worker, its pool processes or
    work horses), counting the children each has already reaped."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6, the session id (after pid and comm)
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def drain_once(name: str, jobs: int, log: Path, timeout: float = 300, env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Jobs per second one worker of variant ``name`` takes from a backlog of ``jobs``, and the
    CPU milliseconds its processes and the redis-server spend per job meanwhile."""
    kind, command, enqueue = VARIANTS[name]
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    redis_pid = int(conn.info("server")["process_id"])
    enqueue(jobs)
    key = _queue_key(kind)
    assert conn.llen(key) == jobs, f"{name}: {conn.llen(key)} of {jobs} jobs on {key}"
    with open(log, "ab") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env or os.environ, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        start = None
        while True:
            length = conn.llen(key)
            now = time.perf_counter()
            if start is None and length <= jobs - SKIP:
                start, at_start, cpu_start, redis_start = now, length, session_cpu(worker.pid), process_cpu(redis_pid)
            if length == 0:
                cpu, redis_cpu = session_cpu(worker.pid) - cpu_start, process_cpu(redis_pid) - redis_start
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name}: worker stopped or timed out with {length} jobs left; see {log}")
            time.sleep(0.002)
        return at_start / (now - start), cpu / at_start * 1000, redis_cpu / at_start * 1000
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=400, help="backlog per drain")
    parser.add_argument("--only", choices=("rq", "celery"), help="one backend only")
    parser.add_argument("--celery-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a Celery setting for the taskbridge worker only (VALUE is JSON), e.g. worker_prefetch_multiplier=4")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args()
    overrides = {name: json.loads(value) for name, _, value in (item.partition("=") for item in options.celery_setting)}
    envs = {"taskbridge_celery": {**os.environ, "TASKBRIDGE_BENCH_CELERY": json.dumps(overrides)}} if overrides else {}
    set_route(QUEUE, "baseline", reason="drain benchmark: noop on Celery")
    set_route(None, "candidate", task=noop_rq.name, reason="drain benchmark: noop_rq on RQ")
    assert noop.enqueue(1, 2).backend != noop_rq.enqueue(1, 2).backend
    log = Path(os.environ["TASKBRIDGE_EVENT_LOG"]).with_name("workers.log")
    names = [name for name in VARIANTS if options.only is None or VARIANTS[name][0] == options.only]
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    redis_cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(1, options.rounds + 1):
        load = os.getloadavg()[0]
        order = names if round_number % 2 else names[::-1]  # ABBA: a drift favours neither side
        for name in order:
            rate, cpu_ms, redis_ms = drain_once(name, options.jobs, log, env=envs.get(name))
            rates[name].append(rate)
            cpu[name].append(cpu_ms)
            redis_cpu[name].append(redis_ms)
        print(f"round {round_number} (load {load:.1f}): "
              + ", ".join(f"{name} {rates[name][-1]:.0f}/s {cpu[name][-1]:.1f} ms" for name in names), flush=True)
    print(f"drain, {options.rounds} rounds of a {options.jobs}-job backlog per variant "
          "(median jobs/s; median CPU ms per job of the worker's processes, and of redis-server):")
    results: dict[str, float] = {}
    for name in names:
        results[name], results[f"{name}_cpu_ms"] = statistics.median(rates[name]), statistics.median(cpu[name])
        results[f"{name}_redis_cpu_ms"] = statistics.median(redis_cpu[name])
        print(f"  {LABELS[name]:<34} {results[name]:7.1f} jobs/s {results[f'{name}_cpu_ms']:6.2f} CPU ms/job"
              f" + redis-server {results[f'{name}_redis_cpu_ms']:5.2f}")
    for backend in ("celery", "rq"):
        if f"raw_{backend}" in rates:
            paired = [ours / raw for ours, raw in zip(rates[f"taskbridge_{backend}"], rates[f"raw_{backend}"])]
            cpu_paired = [raw / ours for ours, raw in zip(cpu[f"taskbridge_{backend}"], cpu[f"raw_{backend}"])]
            results[f"ratio_{backend}"] = statistics.median(paired)
            results[f"cpu_ratio_{backend}"] = statistics.median(cpu_paired)
            print(f"  ratio taskbridge/raw {backend}, median of {options.rounds} rounds: {results[f'ratio_{backend}']:.2f} "
                  f"(target ≥ 0.90); by CPU per job (raw/taskbridge): {results[f'cpu_ratio_{backend}']:.2f}")
    if options.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
