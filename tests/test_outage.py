"""Redis outages on real parts: a private redis-server with AOF (tests/support/redis_server.py,
``DurableRedis``) that each test stops or stalls, a Celery worker and an RQ worker started with
the documented commands, the reconciler process, and a dispatching client process
(tests/support/outage_client.py), all pointed at that Redis. The session's Redis is untouched.

Figures (durations) are printed for docs/reliability.md; the bounds asserted are generous:
the configured ``REDIS_TIMEOUT`` plus a margin, and 30 s for recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import ALL_QUEUES
from tests.support.events import EventLog
from tests.support.redis_server import DurableRedis
from tests.support.workers import ROOT, WorkerProcess, celery_worker_command, rq_worker_command

pytestmark = pytest.mark.integration

TIMEOUT = float(settings.TASKBRIDGE.get("REDIS_TIMEOUT", 3.0))
MARGIN = 3.0
RECOVERY = 30.0


class Client:
    """The dispatching process: one JSON command in, one JSON answer out."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._stderr = open(log, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.outage_client"], cwd=ROOT, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        assert self._read().get("ready"), "the client did not start"

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"client exited ({self.process.poll()})")
        return json.loads(line)

    def __call__(self, op: str, **fields: Any) -> dict[str, Any]:
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        assert "crashed" not in answer, answer
        return answer

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)
        self._stderr.close()


@dataclass
class Outage:
    redis: DurableRedis
    client: Client
    workers: dict[str, WorkerProcess]
    events: EventLog
    tmp: Path

    def runs(self, token: str) -> int:
        return int(self.redis.client().get(f"tb-test:count:{token}") or 0)

    def ran_on(self, token: str) -> list[str]:
        return [b.decode() for b in self.redis.client().lrange(f"tb-test:backend:{token}", 0, -1)]

    def enqueue_on(self, backend: str, task: str, *args: Any) -> dict[str, Any]:
        answer = self.client("enqueue", task=task, args=list(args))
        assert answer["ok"], answer
        assert answer["backend"] == backend, answer
        return answer

    def route(self, backend: str) -> None:
        from taskbridge import conf

        self.client("route", target="candidate" if backend == conf.candidate() else "baseline")

    def alive(self) -> None:
        for worker in self.workers.values():
            assert worker.alive(), f"{worker.kind} worker exited:\n{worker.log()[-3000:]}"


def _wait(predicate, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def _wait_workers(outage: Outage, timeout: float = 60) -> None:
    """Both workers take a job: the one sure sign a worker is serving."""
    for backend in ("celery", "rq"):
        outage.route(backend)
        token = f"up-{backend}-{uuid.uuid4().hex[:6]}"
        outage.enqueue_on(backend, "mark", token)
        _wait(lambda: outage.runs(token) == 1, timeout, f"the {backend} worker ran a job\n{outage.workers[backend].log()[-3000:]}")


@pytest.fixture
def outage(transactional_db, worker_env, tmp_path):
    server = DurableRedis().start()
    env = {**worker_env, "REDIS_URL": server.url, "TASKBRIDGE_EVENT_LOG": str(tmp_path / "events.log")}
    workers = {
        "celery": WorkerProcess("celery", celery_worker_command(ALL_QUEUES, concurrency=1, name="outage"), env,
                                tmp_path / "celery.log", name="outage"),
        "rq": WorkerProcess("rq", rq_worker_command(ALL_QUEUES, name="outage-rq"), env, tmp_path / "rq.log", name="outage-rq"),
        "reconciler": WorkerProcess("reconciler", [sys.executable, "manage.py", "taskbridge", "reconcile"], env,
                                    tmp_path / "reconciler.log"),
    }
    client = None
    try:
        for process in workers.values():
            process.start()
        client = Client(env, tmp_path / "client.log")
        state = Outage(server, client, workers, EventLog(tmp_path / "events.log"), tmp_path)
        _wait_workers(state)
        yield state
    finally:
        if client is not None:
            client.close()
        for process in workers.values():
            process.stop()
        server.close()


def test_redis_stopped_for_20s_refuses_quickly_then_everything_runs_once(outage):
    """Jobs queued behind a running job on each backend when Redis stops (SIGTERM, AOF) wait
    out 20 s of outage; dispatches meanwhile raise EnqueueError within the timeout; after the
    restart the same worker processes run what was queued, each job once."""
    holds = {}
    for backend in ("celery", "rq"):
        outage.route(backend)
        holds[backend] = f"hold-{backend}-{uuid.uuid4().hex[:6]}"
        outage.enqueue_on(backend, "hold", holds[backend], 24)
    tokens: dict[str, list[str]] = {"celery": [], "rq": []}
    for backend in ("celery", "rq"):
        _wait(lambda: outage.redis.client().exists(f"tb-test:runs:{holds[backend]}"), 30, f"the {backend} hold job started")
    for backend in ("celery", "rq"):
        outage.route(backend)
        for i in range(5):
            token = f"q-{backend}-{i}-{uuid.uuid4().hex[:6]}"
            outage.enqueue_on(backend, "mark", token)
            tokens[backend].append(token)
    assert not any(outage.runs(t) for ts in tokens.values() for t in ts), "queued behind the hold jobs"

    outage.redis.stop()
    stopped = time.monotonic()
    refused = []
    while time.monotonic() - stopped < 20:
        for backend in ("celery", "rq"):
            outage.route(backend)
            answer = outage.client("enqueue", task="mark", args=[f"refused-{uuid.uuid4().hex[:6]}"])
            assert not answer["ok"] and answer["error"] == "EnqueueError", answer
            refused.append((backend, answer["seconds"], answer["cause"], answer["message"]))
        time.sleep(2)
    outage.redis.start()
    back = time.monotonic()
    print(f"\noutage {back - stopped:.1f}s; refusals {len(refused)}, longest {max(s for _, s, _, _ in refused):.2f}s; "
          f"causes {sorted({c for _, _, c, _ in refused})}")
    for refusal in refused:
        print("  ", refusal)
    assert all(seconds < TIMEOUT + MARGIN for _, seconds, _, _ in refused), refused

    everything = [t for ts in tokens.values() for t in ts]
    took = _wait(lambda: all(outage.runs(t) >= 1 for t in everything), RECOVERY + 24,
                 f"the jobs queued before the stop ran: { {t: outage.runs(t) for t in everything} }")
    print(f"queued-before-stop jobs all ran {took:.1f}s after Redis returned (behind 24 s hold jobs)")
    outage.alive()
    fresh = {}
    for backend in ("celery", "rq"):
        outage.route(backend)
        fresh[backend] = f"after-{backend}-{uuid.uuid4().hex[:6]}"
        outage.enqueue_on(backend, "mark", fresh[backend])
    took = _wait(lambda: all(outage.runs(t) == 1 for t in fresh.values()), RECOVERY, "new jobs ran after the restart")
    print(f"new jobs on both backends ran {time.monotonic() - back:.1f}s after Redis returned")
    time.sleep(3)  # a second run, if there were one, would show by now
    for backend, ts in tokens.items():
        for token in ts:
            assert outage.runs(token) == 1 and outage.ran_on(token) == [backend], (token, outage.ran_on(token))
    for backend, token in fresh.items():
        assert outage.ran_on(token) == [backend]
    outage.alive()


def test_redis_stalled_no_dispatch_blocks_past_the_timeout(outage):
    """SIGSTOP for ~10 s: the kernel still accepts connections, nothing answers. Every
    dispatch returns within the timeout, refused ones name the cause; after SIGCONT the
    accepted jobs run once."""
    outage.client("route", target=50)  # routed by job id: both backends, no route change needed during the stall
    outage.redis.pause()
    stalled = time.monotonic()
    answers = []
    try:
        while time.monotonic() - stalled < 10:
            token = f"stall-{uuid.uuid4().hex[:8]}"
            answers.append((token, outage.client("enqueue", task="mark", args=[token])))
    finally:
        outage.redis.resume()
    resumed = time.monotonic()
    refused = [a for _, a in answers if not a["ok"]]
    longest = max(a["seconds"] for _, a in answers)
    print(f"\nstall {resumed - stalled:.1f}s: {len(answers)} dispatches, {len(refused)} refused, longest {longest:.2f}s; "
          f"causes {sorted({a['cause'] for a in refused})}")
    for answer in refused:
        print("  ", round(answer["seconds"], 2), answer["cause"], answer["message"][-160:].replace("\n", " "))
    assert refused, "a stalled Redis refused nothing"
    assert longest < TIMEOUT + MARGIN, answers
    backends_refused = set()
    for answer in refused:
        assert answer["error"] == "EnqueueError" and answer["cause"], answer
        reason = answer["message"].split(": ", 1)[1]
        assert " on " in reason and reason.split(": ", 1)[1].strip(), answer  # "… on <backend>: <what Redis did>"
        backends_refused.add(reason.split(" on ", 1)[1].split(":", 1)[0])
    accepted = [(t, a) for t, a in answers if a["ok"]]
    after = {}
    for backend in ("celery", "rq"):
        outage.route(backend)
        after[backend] = f"after-stall-{backend}-{uuid.uuid4().hex[:6]}"
        outage.enqueue_on(backend, "mark", after[backend])
    took = _wait(lambda: all(outage.runs(t) == 1 for t in [*after.values(), *(t for t, _ in accepted)]), RECOVERY,
                 "accepted and new jobs ran after the stall")
    time.sleep(3)
    late = [t for t, a in answers if not a["ok"] and outage.runs(t)]
    print(f"backends refused {sorted(backends_refused)}; all accepted jobs ran {time.monotonic() - resumed:.1f}s after SIGCONT; "
          f"refused but ran anyway (the write reached Redis after the client gave up): {len(late)}")
    assert all(outage.runs(t) == 1 for t, _ in accepted)
    assert all(outage.runs(t) <= 1 for t, _ in answers)
    outage.alive()


@pytest.mark.parametrize("backend", ["celery", "rq"])
def test_api_request_during_an_outage_answers_and_its_job_runs_once_redis_is_back(outage, backend):
    """A file upload through the API while Redis is down: its dispatch is on commit (the
    outbox), so the request answers 202, the row is committed, and once Redis returns the
    reconciler process sends it and the item is parsed and indexed."""
    from notebooks.models import KnowledgeBaseItem
    from taskbridge.models import OutboxDispatch

    outage.route(backend)
    outage.redis.stop()
    stopped = time.monotonic()
    answer = outage.client("upload", user=f"u-{uuid.uuid4().hex[:6]}", text="Queues without surprises.\n\nA flag per queue.",
                           name="outage.txt")
    assert answer["ok"] and answer["status"] == 202, answer
    item_id = answer["body"]["id"]
    assert KnowledgeBaseItem.objects.filter(pk=item_id).exists()
    assert OutboxDispatch.objects.exists(), "the dispatch waits in the outbox"
    time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
    outage.redis.start()
    back = time.monotonic()
    item = KnowledgeBaseItem.objects.get(pk=item_id)
    took = _wait(lambda: (item.refresh_from_db() or item.index_status in ("completed", "failed")), 60,
                 "the item was parsed and indexed after Redis returned")
    print(f"\nrequest answered {answer['status']} in {answer['seconds']:.2f}s with Redis down; item {item.parsing_status}/"
          f"{item.index_status} {took:.1f}s after Redis returned")
    assert item.parsing_status == "done" and item.index_status == "completed", (item.parsing_status, item.index_status, item.error_message)
    handle = answer["body"]["task_handle"]
    assert handle.startswith(f"{backend}:"), handle
    events = outage.events.for_job(handle.split(":")[-1])
    assert [e["event"] for e in events].count("task.succeeded") == 1, events
    assert {e["backend"] for e in events if e["event"].startswith("task.")} == {backend}
    outage.alive()
