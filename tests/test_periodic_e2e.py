"""Periodic tasks end to end: real Celery beat, the real RQ scheduler (rq-scheduler's loop via
``manage.py taskbridge scheduler``), real workers of both kinds and a real redis-server."""

from __future__ import annotations

import collections
import datetime as dt
import json
import time
import uuid
from decimal import Decimal

import pytest
from celery import current_app
from django.conf import settings
from rq import Queue
from rq.serializers import JSONSerializer

from taskbridge import periodic, routing
from taskbridge.backends.celery.periodic import CELERY_TICK_TASK
from taskbridge.periodic import Entry
from taskbridge.backends.celery.periodic import FIRED_AT_HEADER
from taskbridge.backends.rq import periodic as periodic_rq
from taskbridge.backends.rq.periodic import META, TaskbridgeScheduler, rq_job_id
from taskbridge.compare.times import parse_iso
from tests.conftest import set_route
from tests.support.schedulers import celery_beat_command, rq_scheduler_command, wait_for_beat, wait_for_rq_scheduler
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.integration

EVERY = 2
PERIODS = 21
BEAT_STOPS = 18  # period index after whose fire beat is stopped
# A flip reaches a worker within FLAG_CACHE_SECONDS (0.5 s); the first tick of a
# period decides its route. A run may use any flag state in effect during this
# many seconds before its dispatch.
PROPAGATION = 0.75


def _ts(event: dict) -> float:
    return parse_iso(event["timestamp"])


def _runs(redis_conn, token: str, entry: str) -> list[tuple[int, str]]:
    prefix = f"periodic-{entry}-"
    runs = []
    for raw in redis_conn.lrange(f"tb-test:periodic:{token}", 0, -1):
        job_id, backend = raw.decode().split("|")
        assert job_id.startswith(prefix), job_id
        runs.append((int(job_id[len(prefix):]), backend))
    return runs


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


class FlagTimeline:
    """Every route the test set, with the interval in which it was being saved."""

    def __init__(self) -> None:
        self.flips: list[tuple[float, float, tuple]] = []

    def set(self, queue: str, everyone: bool | None = None, percent: float | None = None) -> None:
        before = time.time()
        set_route(queue, everyone=everyone, percent=percent)
        self.flips.append((before, time.time(), (everyone, percent)))

    def states_during(self, start: float, end: float) -> list[tuple]:
        """The states that may have been in effect at some moment of [start, end]: a state
        may hold from when its save began until the next save finished."""
        found = []
        for index, (began, _, state) in enumerate(self.flips):
            replaced = self.flips[index + 1][1] if index + 1 < len(self.flips) else float("inf")
            if began <= end and replaced >= start:
                found.append(state)
        return found


def _backend_for(state: tuple, entry: str, period: int) -> str:
    everyone, percent = state
    flag = routing.FlagState("test", everyone, Decimal(str(percent)) if percent is not None else None)
    return routing.decide(flag, f"{entry}:{period}").backend


def test_one_run_per_period_over_flag_flips(transactional_db, workers, worker_env, tmp_path, redis_conn, event_log):
    token = uuid.uuid4().hex
    entry = f"e2e-{token[:8]}"
    schedule = {entry: {"task": "tests.taskapp.tasks.periodic_mark", "every": EVERY, "args": [token]}}
    env = {**worker_env, "TASKBRIDGE_TEST_SCHEDULE": json.dumps(schedule)}
    flags = FlagTimeline()
    flags.set("default", everyone=False)

    scheduler_name = f"e2e-{token[:8]}"
    beat = WorkerProcess("beat", celery_beat_command(tmp_path), env, tmp_path / "beat.log", name="beat")
    rq_scheduler = WorkerProcess("rqscheduler", rq_scheduler_command(0.5, scheduler_name), env,
                                 tmp_path / "rqscheduler.log", name=scheduler_name)
    beat.start()
    rq_scheduler.start()
    try:
        wait_for_beat(beat)
        wait_for_rq_scheduler(rq_scheduler, settings.REDIS_URL, scheduler_name)
        first = periodic.Timing(every=EVERY).next_start(time.time())
        # (period index, seconds into the period, route): mid-period flips, and flips
        # just before, during and just after a period's fire.
        plan = [
            (2, 1.0, (True, None)),
            (4, 1.0, (False, None)),
            (5, 1.95, (True, None)),
            (8, 0.05, (False, None)),
            (9, 1.0, (None, 50.0)),
            (12, 1.0, (True, None)),
            (14, 0.3, (False, None)),
            (16, 1.0, (True, None)),
            # Beat retired (the end of the migration): the RQ scheduler alone carries on,
            # and a rollback flip still reaches Celery.
            (BEAT_STOPS, 1.0, "stop beat"),
            (BEAT_STOPS + 1, 1.0, (False, None)),
        ]
        for index, offset, action in plan:
            _sleep_until(first + index * EVERY + offset)
            if action == "stop beat":
                beat.stop()
            else:
                flags.set("default", everyone=action[0], percent=action[1])
        _sleep_until(first + PERIODS * EVERY + 1.5)
    finally:
        beat.stop()
        rq_scheduler.stop()
        periodic_rq.sync({})  # the schedule is empty again: its rq-scheduler job goes
    for process in (beat, rq_scheduler):
        assert "Traceback" not in process.log(), process.log()[-3000:]
    time.sleep(2)  # let the last dispatched runs finish
    set_route("default", everyone=None)

    runs = _runs(redis_conn, token, entry)
    per_period = collections.Counter(period for period, _ in runs)
    doubled = {period: count for period, count in per_period.items() if count > 1}
    assert not doubled, f"periods run more than once: {doubled}"
    window = [int(first + k * EVERY) for k in range(PERIODS)]
    missing = [period for period in window if period not in per_period]
    assert not missing, f"periods not run: {missing} (ran: {sorted(per_period)})"
    assert len(window) >= 15

    events = [e for e in event_log.all() if e.get("job_id", "").startswith(f"periodic-{entry}-")]
    by_job = collections.defaultdict(list)
    for event in events:
        by_job[event["job_id"]].append(event)
    backend_of = dict(runs)
    unambiguous = 0
    for period in window:
        job_events = by_job[f"periodic-{entry}-{period}"]
        enqueued = [e for e in job_events if e["event"] == "task.enqueued"]
        assert len(enqueued) == 1, job_events
        assert enqueued[0]["backend"] == backend_of[period]
        assert enqueued[0]["route"].startswith(f"{backend_of[period]}:periodic-flag-")
        assert [e["event"] for e in job_events].count("task.succeeded") == 1
        claimed_by = json.loads(redis_conn.get(f"taskbridge:period:{entry}:{period}"))["scheduler"]
        skipped = [e for e in job_events if e["event"] == "task.skipped"]
        assert all(e["reason"] == "period already claimed" and e["claimed_by"] == claimed_by for e in skipped), job_events
        if period <= window[BEAT_STOPS]:
            # Both schedulers fired this period: the tick that lost says so.
            assert [e["scheduler"] for e in skipped] == [{"celery": "rq", "rq": "celery"}[claimed_by]], job_events
        else:
            assert claimed_by == "rq" and not skipped, job_events
        # The backend is the one the flag selected when the period was dispatched.
        decided_at = _ts(enqueued[0])
        states = flags.states_during(decided_at - PROPAGATION, decided_at)
        allowed = {_backend_for(state, entry, period) for state in states}
        assert backend_of[period] in allowed, (period, backend_of[period], states)
        unambiguous += len(allowed) == 1
    assert unambiguous >= 10, "too few periods whose route was unambiguous to be a meaningful check"
    assert {backend for _, backend in runs} == {"celery", "rq"}
    # After beat stopped, the RQ scheduler's ticks dispatched to both backends as the flag said.
    assert {backend_of[period] for period in window[BEAT_STOPS + 1:]} == {"celery", "rq"}


def test_duplicate_ticks_run_the_period_once(transactional_db, workers, redis_conn, event_log):
    """The same tick fired several times, by both schedulers (two rq-scheduler instances racing on
    one due job, plus beat's message sent twice): one run, every other tick skipped."""
    token = uuid.uuid4().hex
    entry = Entry.from_setting(f"dup-{token[:8]}", {"task": "tests.taskapp.tasks.periodic_mark", "every": 60, "args": [token]})
    set_route("default", everyone=False)
    fired_at = time.time()
    start = int(entry.period_start(fired_at))

    # Two rq-scheduler instances that both found the same job due (what an expired lock allows).
    job_id = rq_job_id(entry)
    one, two = TaskbridgeScheduler(name=f"a-{token}"), TaskbridgeScheduler(name=f"b-{token}")
    one.schedule(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1), "taskbridge.backends.rq.periodic.run_tick",
                 args=[entry.as_message()], id=job_id, queue_name="default", result_ttl=-1, meta={META: {"every": 60}})
    try:
        seen_by_one = [job for job in one.get_jobs_to_queue() if job.id == job_id]
        seen_by_two = [job for job in two.get_jobs_to_queue() if job.id == job_id]
        assert [j.id for j in seen_by_one] == [j.id for j in seen_by_two] == [job_id]
        one.enqueue_job(seen_by_one[0])
        two.enqueue_job(seen_by_two[0])
        # And beat's tick message, delivered twice, for the same fire.
        for _ in range(2):
            current_app.send_task(CELERY_TICK_TASK, args=[entry.as_message()], headers={FIRED_AT_HEADER: fired_at})
        # A tick fired in the previous period is that period's, however late it runs (within 2 periods).
        current_app.send_task(CELERY_TICK_TASK, args=[entry.as_message()], headers={FIRED_AT_HEADER: fired_at - 60})

        job = f"periodic-{entry.name}-{start}"
        found = event_log.wait_for(
            lambda evs: any(e["event"] == "task.succeeded" for e in evs)
            and sum(e["event"] == "task.skipped" for e in evs) >= 3,
            timeout=30, job_id=job,
        )
        time.sleep(1.5)  # room for a wrongful second run to show up
        event_log.wait_for_terminal(f"periodic-{entry.name}-{start - 60}")
        runs = _runs(redis_conn, token, entry.name)
        assert sorted(runs) == [(start - 60, "celery"), (start, "celery")], runs
        found = event_log.for_job(job)
        assert [e["event"] for e in found].count("task.enqueued") == 1
        skipped = [e for e in found if e["event"] == "task.skipped"]
        assert len(skipped) == 3, found
        assert all(e["reason"] == "period already claimed" for e in skipped)
        assert {e["scheduler"] for e in skipped} == {"celery", "rq"}
    finally:
        Queue("default", connection=one.connection, serializer=JSONSerializer).remove(job_id)
        one.cancel(job_id)
        one.connection.delete(f"rq:job:{job_id}")
        set_route("default", everyone=None)
