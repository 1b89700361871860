"""Response times of the cutover cockpit's page and its live JSON, with a Celery and an
RQ worker running on every queue (so Celery's worker presence is a real broadcast).

    python benchmarks/cockpit.py [--jobs 2000] [--requests 50]

Dispatches --jobs jobs (half to each backend) so the ledger has records to scan,
waits until the cockpit's refresher has published figures, then times --requests
GETs of the page and of the JSON through Django's whole request stack (test
client, in process: no network), and prints median, 95th percentile and max in
ms. For contrast it also times the figures themselves (the ledger scan and the
workers' broadcast), which the refresher computes off the request path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._setup import prepare  # noqa: E402

REDIS_URL = prepare()

import os  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402

from benchmarks.tasks import noop  # noqa: E402
from taskbridge import conf, cutover, live  # noqa: E402
from taskbridge.testing import override_route  # noqa: E402
from tests.support.workers import WorkerProcess, celery_worker_command, rq_worker_command, wait_for_celery, wait_for_rq  # noqa: E402


def _timed(client: Client, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def _line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"{name:<24} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   max {max(times):7.1f} ms   (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="taskbridge-bench-cockpit-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    queues = list(conf.queues())
    celery = WorkerProcess("celery", celery_worker_command(queues, name="bench"), env, scratch / "celery.log", name="bench").start()
    rq = WorkerProcess("rq", rq_worker_command(queues, name="bench-rq"), env, scratch / "rq.log", name="bench-rq").start()
    try:
        wait_for_celery(celery, REDIS_URL)
        wait_for_rq(rq, REDIS_URL)
        for target in ("baseline", "candidate"):
            with override_route("default", target):
                for i in range(args.jobs // 2):
                    noop.enqueue(i, i)

        user = get_user_model().objects.create_superuser("bench", "bench@example.org", "pw")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        client.get("/admin/taskbridge/cutover/")  # starts the refresher; compiles the templates once
        deadline = time.monotonic() + 30
        while client.get("/admin/taskbridge/cutover/live.json").json()["figures_age"] is None and time.monotonic() < deadline:
            time.sleep(0.2)

        figures = [(lambda s: (cutover.figures(), (time.perf_counter() - s) * 1000)[1])(time.perf_counter()) for _ in range(5)]
        data = client.get("/admin/taskbridge/cutover/live.json").json()
        print(f"ledger records scanned: {data['jobs_scanned']}; workers: celery and rq on {len(queues)} queues")
        print(_line("page (HTML)", _timed(client, "/admin/taskbridge/cutover/", args.requests)))
        print(_line("live JSON", _timed(client, "/admin/taskbridge/cutover/live.json", args.requests)))
        print(_line("figures (off the path)", figures))
    finally:
        celery.stop()
        rq.stop()


if __name__ == "__main__":
    main()
