"""Flip under load: jobs dispatched from several processes while another process flips
the queue's flag back and forth. Every job must run exactly once, on the backend its
dispatch was routed to."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import set_route
from tests.support.workers import ROOT

DISPATCHERS = 2
JOBS_PER_DISPATCHER = 1000
FLIPS = 24

DISPATCH = """
import django, sys, time; django.setup()
import redis
from django.conf import settings
from tests.taskapp.tasks import record_run
conn = redis.Redis.from_url(settings.REDIS_URL)
batch, count = sys.argv[1], int(sys.argv[2])
while not conn.exists(f"tb-test:flipping:{batch}"):
    time.sleep(0.01)  # dispatch while the flags flip
for _ in range(count):
    handle = record_run.enqueue(batch)
    conn.hset(f"tb-test:routed:{batch}", handle.job_id, handle.backend)
    time.sleep(0.004)  # spread the dispatches over the flips, however fast this machine is
"""

FLIP = """
import django, sys, time; django.setup()
import redis
from django.conf import settings
from waffle.models import Flag
from taskbridge import conf
conn = redis.Redis.from_url(settings.REDIS_URL)
flips, pause, batch, total = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
flag = Flag.objects.get(name=conf.queue_flag_name("default"))
index = 0
while index < flips or conn.hlen(f"tb-test:routed:{batch}") < total:  # flip until every job is dispatched
    flag.everyone = index % 2 == 0
    flag.save()
    conn.set(f"tb-test:flipping:{batch}", 1)
    index += 1
    time.sleep(pause)
"""


@pytest.mark.integration
def test_flip_under_load_runs_every_job_once_on_its_routed_backend(transactional_db, workers, worker_env, redis_conn):
    set_route("default", everyone=False)
    batch = f"flip-{time.time_ns()}"
    dispatchers = [
        subprocess.Popen([sys.executable, "-c", DISPATCH, batch, str(JOBS_PER_DISPATCHER)], cwd=ROOT, env=worker_env)
        for _ in range(DISPATCHERS)
    ]
    total = DISPATCHERS * JOBS_PER_DISPATCHER
    flipper = subprocess.Popen([sys.executable, "-c", FLIP, str(FLIPS), "0.25", batch, str(total)], cwd=ROOT, env=worker_env)
    for process in [*dispatchers, flipper]:
        assert process.wait(300) == 0

    routed = {k.decode(): v.decode() for k, v in redis_conn.hgetall(f"tb-test:routed:{batch}").items()}
    assert len(routed) == total
    assert {"celery", "rq"} <= set(routed.values()), "the flips did not split the load between the backends"

    deadline = time.monotonic() + 240
    while redis_conn.hlen(f"tb-test:ran:{batch}") < len(routed) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # anything that would run twice has had time to do so
    ran = {k.decode(): int(v) for k, v in redis_conn.hgetall(f"tb-test:ran:{batch}").items()}
    ran_on = {k.decode(): v.decode() for k, v in redis_conn.hgetall(f"tb-test:ran-on:{batch}").items()}

    lost = set(routed) - set(ran)
    duplicated = {job: count for job, count in ran.items() if count != 1}
    misrouted = {job: (routed[job], ran_on[job]) for job in ran if routed.get(job) != ran_on[job]}
    assert not lost, f"{len(lost)} jobs never ran"
    assert not duplicated, f"jobs ran more than once: {duplicated}"
    assert not misrouted, f"jobs ran on another backend than routed: {list(misrouted.items())[:5]}"
