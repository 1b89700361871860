"""Route changes pushed to every process: the flags are read from the database when they
change, not every FLAG_CACHE_SECONDS; a process that misses the announcement still converges
through the version key. Real redis-server and database; a second process where it matters."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.db import transaction
from waffle.models import Flag

from taskbridge import conf, routing
from taskbridge.redis import connection
from tests.conftest import set_route
from tests.support.workers import ROOT

TASK = "tests.taskapp.tasks.add"


@pytest.fixture
def fast_checks(settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "FLAG_CACHE_SECONDS": 0.05}


@pytest.mark.django_db
def test_unchanged_flags_are_read_once_however_long_a_process_routes(fast_checks):
    snapshot = routing.FlagSnapshot()
    name = conf.queue_flag_name("default")
    deadline = time.monotonic() + 0.6  # a dozen version checks
    while time.monotonic() < deadline:
        snapshot.get(name)
        time.sleep(0.005)
    assert snapshot.reads == 1
    routing.announce_change()
    snapshot.get(name)  # within FLAG_CACHE_SECONDS (0.05 s) the version check sees the change
    time.sleep(0.06)
    snapshot.get(name)
    assert snapshot.reads == 2


@pytest.mark.django_db
def test_a_missed_announcement_is_caught_by_the_version_key(fast_checks):
    set_route("default", everyone=False)
    snapshot = routing.FlagSnapshot()
    name = conf.queue_flag_name("default")
    assert snapshot.get(name).everyone is False
    Flag.objects.filter(name=name).update(everyone=True)  # no signal: nobody announces it ...
    time.sleep(0.06)
    assert snapshot.get(name).everyone is False  # ... so nothing is read
    connection().incr(routing.VERSION_KEY)  # the version moved, its message was lost
    time.sleep(0.06)
    assert snapshot.get(name).everyone is True


@pytest.mark.django_db
def test_without_redis_the_flags_are_read_every_flag_cache_seconds(fast_checks, settings):
    snapshot = routing.FlagSnapshot()
    name = conf.queue_flag_name("default")
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens there
    snapshot.get(name)
    time.sleep(0.06)
    snapshot.get(name)
    assert snapshot.reads == 2


WATCHER = """
import django, sys, time; django.setup()
from django.conf import settings
from taskbridge import routing
settings.TASKBRIDGE = {**settings.TASKBRIDGE, "FLAG_CACHE_SECONDS": 0.1}
deadline = time.monotonic() + 0.5
while time.monotonic() < deadline:  # a few version checks: the listener starts
    routing.route("x", "default", "k")
    time.sleep(0.01)
settings.TASKBRIDGE = {**settings.TASKBRIDGE, "FLAG_CACHE_SECONDS": 3600}
time.sleep(0.15)
first = routing.route("x", "default", "k").backend  # its next version check is an hour away
print(first, routing.flags.reads, flush=True)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    backend = routing.route("x", "default", "k").backend
    if backend != first:
        print(backend, routing.flags.reads, flush=True)
        break
    time.sleep(0.005)
"""


@pytest.mark.django_db(transaction=True)
def test_a_change_reaches_a_listening_process_by_its_announcement(worker_env):
    set_route("default", everyone=False)
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER], cwd=ROOT, env=worker_env, stdout=subprocess.PIPE, text=True)
    try:
        backend, reads = watcher.stdout.readline().split()
        assert backend == "celery"
        set_route("default", everyone=True)  # committed: announced
        backend, reads_after = watcher.stdout.readline().split()
        assert backend == "rq" and int(reads_after) == int(reads) + 1
        watcher.wait(10)
    finally:
        watcher.kill()


@pytest.mark.django_db(transaction=True)
def test_a_route_change_rolled_back_is_not_kept_by_the_process_that_made_it():
    set_route("default", everyone=False)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            set_route("default", everyone=True)
            assert routing.route(TASK, "default", "k").backend == "rq"  # its own transaction sees it
            raise RuntimeError("roll back")
    assert routing.route(TASK, "default", "k").backend == "celery"
