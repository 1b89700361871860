"""Routing decisions from the waffle flags (in-process; the database, no Redis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from waffle.models import Flag

from taskbridge import conf, routing
from taskbridge.routing import FlagState, bucket, decide
from tests.conftest import set_route
from tests.support.workers import ROOT

TASK = "tests.taskapp.tasks.add"


@pytest.fixture(autouse=True)
def fresh_snapshot():
    routing.flags.invalidate()
    yield
    routing.flags.invalidate()


@pytest.mark.django_db
def test_everyone_yes_routes_to_rq():
    set_route("default", everyone=True)
    assert routing.route(TASK, "default", "k") == routing.Route("rq", "flag-everyone")


@pytest.mark.django_db
def test_everyone_no_routes_to_celery():
    set_route("default", everyone=False)
    assert routing.route(TASK, "default", "k") == routing.Route("celery", "flag-everyone")


@pytest.mark.django_db
def test_missing_flag_uses_the_baseline(settings):
    Flag.objects.filter(name=conf.queue_flag_name("default")).delete()
    routing.flags.invalidate()
    assert routing.route(TASK, "default", "k") == routing.Route("celery", "default")
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "BASELINE": "rq", "CANDIDATE": "celery"}
    assert routing.route(TASK, "default", "k") == routing.Route("rq", "default")


@pytest.mark.django_db
def test_flags_name_roles_so_swapping_them_migrates_the_other_way(settings):
    set_route("default", everyone=True)
    assert routing.route(TASK, "default", "k").backend == "rq"
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "BASELINE": "rq", "CANDIDATE": "celery"}
    assert routing.route(TASK, "default", "k").backend == "celery"
    set_route("default", everyone=None, percent=50)
    routed = {routing.route(TASK, "default", f"k{i}").backend for i in range(200)}
    assert routed == {"celery", "rq"}


@pytest.mark.django_db
def test_unknown_without_percent_uses_default():
    set_route("default", everyone=None, percent=None)
    assert routing.route(TASK, "default", "k").reason == "default"


@pytest.mark.django_db
def test_task_flag_overrides_queue_flag():
    set_route("default", everyone=False)
    set_route("default", everyone=True, task=TASK)
    assert routing.route(TASK, "default", "k") == routing.Route("rq", "task-flag-everyone")
    assert routing.route("tests.taskapp.tasks.mark", "default", "k").backend == "celery"


@pytest.mark.django_db
def test_task_flag_without_decision_falls_back_to_queue_flag():
    set_route("default", everyone=True)
    set_route("default", everyone=None, percent=None, task=TASK)
    assert routing.route(TASK, "default", "k") == routing.Route("rq", "flag-everyone")


@pytest.mark.parametrize("percent", [0, 1, 10, 25, 50, 75, 99.9])
def test_percent_share_within_two_points_over_10000_keys(percent):
    flag = FlagState("f", None, Decimal(str(percent)))
    to_rq = sum(decide(flag, f"job-{i}").backend == "rq" for i in range(10_000))
    assert abs(to_rq / 100 - percent) <= 2, f"{to_rq / 100}% routed to RQ for a {percent}% flag"


def test_same_key_always_same_backend_and_monotonic_in_percent():
    keys = [f"notebook_id={i}" for i in range(2000)]
    low = FlagState("f", None, Decimal("20"))
    high = FlagState("f", None, Decimal("60"))
    first = [decide(low, key).backend for key in keys]
    assert first == [decide(low, key).backend for key in keys]
    # Raising the share only moves keys to RQ, never back: an entity on RQ stays there.
    assert all(decide(high, key).backend == "rq" for key, backend in zip(keys, first) if backend == "rq")


def test_bucket_is_stable_across_processes():
    here = [bucket(f"key-{i}") for i in range(50)]
    code = "import json; from taskbridge.routing import bucket; print(json.dumps([bucket(f'key-{i}') for i in range(50)]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"})
    assert json.loads(out.stdout) == here


@pytest.mark.django_db(transaction=True)
def test_flag_change_is_seen_by_a_second_process_within_a_second(worker_env):
    set_route("default", everyone=False)
    watcher = subprocess.Popen(
        [sys.executable, "-c", (
            "import django, sys, time; django.setup(); from taskbridge import routing\n"
            "print(routing.route('x', 'default', 'k').backend, flush=True)\n"
            "deadline = time.monotonic() + 10\n"
            "while time.monotonic() < deadline:\n"
            "    if routing.route('x', 'default', 'k').backend == 'rq':\n"
            "        print('rq', time.time(), flush=True); break\n"
            "    time.sleep(0.005)\n"
        )],
        cwd=ROOT, env=worker_env, stdout=subprocess.PIPE, text=True,
    )
    assert watcher.stdout.readline().strip() == "celery"
    flipped_at = time.time()
    set_route("default", everyone=True)
    backend, seen_at = watcher.stdout.readline().split()
    watcher.wait(10)
    assert backend == "rq"
    assert float(seen_at) - flipped_at < 1.0


@pytest.mark.django_db
def test_once_the_migration_is_over_every_flag_leads_to_the_one_backend(settings):
    rq_only = {"rq": settings.TASKBRIDGE["BACKENDS"]["rq"]}
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "BACKENDS": rq_only, "BASELINE": "rq", "CANDIDATE": "rq"}
    for everyone, percent in ((False, None), (True, None), (None, 30)):
        set_route("default", everyone=everyone, percent=percent)
        assert routing.route(TASK, "default", "k").backend == "rq"
