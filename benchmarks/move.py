"""Moving a backlog: seconds to move N queued jobs from one backend to the other.

    python benchmarks/move.py [--jobs 10000]

Starts a private redis-server (no workers: nothing consumes the jobs), dispatches
``--jobs`` jobs of ``noop`` to RQ, moves them to Celery with
:func:`taskbridge.move.move` (read the backlog, hand each ledger record over,
send each job, remove the old messages, one ``task.moved`` line each), then
moves them back. Prints the seconds and jobs per second of each direction.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._setup import prepare  # noqa: E402

prepare()

from benchmarks.tasks import noop  # noqa: E402
from taskbridge import conf, set_route  # noqa: E402
from taskbridge.backends import get_backend  # noqa: E402
from taskbridge.move import move  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    jobs = parser.parse_args().jobs
    first, second = conf.candidate(), conf.baseline()
    set_route("default", first, backlog="keep")
    start = time.perf_counter()
    for item in range(jobs):
        noop.enqueue(item, item)
    print(f"dispatched {jobs} jobs to {first} in {time.perf_counter() - start:.2f}s")
    for source, target in ((first, second), (second, first)):
        set_route("default", target, backlog="keep")
        start = time.perf_counter()
        report = move("default")
        seconds = time.perf_counter() - start
        assert report.total_moved == jobs, report.describe()
        left = get_backend(source).backlog("default")
        print(f"move {source} -> {target}: {jobs} jobs in {seconds:.2f}s ({jobs / seconds:,.0f} jobs/s); {left} left on {source}")


if __name__ == "__main__":
    main()
