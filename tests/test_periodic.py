"""Periodic tasks, unit level: the schedule format, period arithmetic, beat's schedule, the tick's
claim and routing (against the session's real redis-server) and schedule-sync."""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import pickle
import random
import time
import uuid
import zlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from rq import Queue
from rq.serializers import JSONSerializer

from taskbridge import periodic, routing
from taskbridge.backends.celery.config import _route, settings_for_celery
from taskbridge.backends.celery.periodic import CELERY_TICK_TASK
from taskbridge.periodic import Entry, Timing
from taskbridge.backends.celery.periodic import PeriodSchedule
from taskbridge.backends.rq import periodic as periodic_rq
from taskbridge.backends.rq.periodic import META, RQ_JOB_PREFIX, PeriodicJob, TaskbridgeScheduler
from tests.conftest import set_route

UTC = dt.timezone.utc
MARK = "tests.taskapp.tasks.periodic_mark"


def _at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


# -- the schedule format ----------------------------------------------------------------------------


def test_the_projects_schedule_is_valid():
    schedule = periodic.entries()
    assert set(schedule) == {"cleanup-old-podcast-jobs", "cleanup-old-reports"}
    assert schedule["cleanup-old-reports"].task == "reports.tasks.cleanup_old_reports"
    assert schedule["cleanup-old-reports"].timing == Timing(every=86400)


@pytest.mark.parametrize(
    "name,spec,problem",
    [
        ("bad name!", {"task": MARK, "every": 60}, "entry name"),
        ("x", "tests.taskapp.tasks.periodic_mark", "must be a dict"),
        ("x", {"every": 60}, "'task' must be the dotted path"),
        ("x", {"task": MARK}, "exactly one of 'every'"),
        ("x", {"task": MARK, "every": 60, "cron": "* * * * *"}, "exactly one of 'every'"),
        ("x", {"task": MARK, "every": 0}, "'every' must be a whole number"),
        ("x", {"task": MARK, "every": 1.5}, "'every' must be a whole number"),
        ("x", {"task": MARK, "every": True}, "'every' must be a whole number"),
        ("x", {"task": MARK, "cron": "61 * * * *"}, "valid five-field cron"),
        ("x", {"task": MARK, "cron": "0 3 * * * *"}, "valid five-field cron"),
        ("x", {"task": MARK, "every": 60, "args": "abc"}, "'args' must be a list"),
        ("x", {"task": MARK, "every": 60, "kwargs": ["a"]}, "'kwargs' must be a dict"),
        ("x", {"task": MARK, "every": 60, "args": [b"raw"]}, "args[0] is a bytes"),
        ("x", {"task": MARK, "every": 60, "queue": "default"}, "unknown key(s) 'queue'"),
    ],
)
def test_invalid_entries_are_refused_naming_the_entry(name, spec, problem):
    with pytest.raises(ImproperlyConfigured) as raised:
        periodic.parse_schedule({name: spec})
    assert f"TASKBRIDGE['SCHEDULE'][{name!r}]" in str(raised.value)
    assert problem in str(raised.value)


def test_entries_resolve_to_declared_tasks_with_fitting_arguments():
    good = Entry.from_setting("good", {"task": MARK, "every": 60, "args": ["t"]})
    assert periodic.resolve(good).name == MARK
    missing = Entry.from_setting("missing", {"task": "tests.taskapp.tasks.nope", "every": 60})
    with pytest.raises(ImproperlyConfigured, match=r"\['missing'\].*not a declared taskbridge task"):
        periodic.resolve(missing)
    misfit = Entry.from_setting("misfit", {"task": MARK, "every": 60, "kwargs": {"colour": "red"}})
    with pytest.raises(ImproperlyConfigured, match=r"\['misfit'\].*do not match"):
        periodic.resolve(misfit)


def test_an_entry_round_trips_through_a_tick_message():
    entry = Entry.from_setting("e", {"task": MARK, "cron": "0  3 * * *", "args": ["t"], "kwargs": {}})
    message = json.loads(json.dumps(entry.as_message()))
    assert Entry.from_message(message) == entry
    assert entry.timing.cron == "0 3 * * *"


# -- period arithmetic ----------------------------------------------------------------------------


def test_interval_periods_are_multiples_of_every_since_the_epoch():
    timing = Timing(every=60)
    assert timing.period_start(600.0) == 600.0  # a period includes its start
    assert timing.period_start(659.999) == 600.0
    assert timing.next_start(600.0) == 660.0
    assert timing.next_start(659.999) == 660.0
    day = Timing(every=86400)
    assert day.period_start(_at(2024, 3, 5, 17, 30)) == _at(2024, 3, 5)  # daily = UTC midnight


def test_cron_periods_start_at_the_latest_cron_time():
    timing = Timing(cron="0 3 * * *")
    three = _at(2024, 3, 5, 3)
    assert timing.period_start(three) == three
    assert timing.period_start(three + 0.5) == three
    assert timing.period_start(three - 0.5) == three - 86400
    assert timing.next_start(three) == three + 86400
    weekdays = Timing(cron="0 3 * * 1-5")
    friday = _at(2024, 3, 8, 3)
    assert weekdays.length(friday) == 3 * 86400
    assert weekdays.period_start(_at(2024, 3, 10, 12)) == friday


# -- Celery beat ------------------------------------------------------------------------------------


def test_beat_is_due_once_per_period_at_its_start():
    now = [dt.datetime(2024, 3, 5, 10, 0, 59, 500000, tzinfo=UTC)]
    schedule = PeriodSchedule(every=60, nowfun=lambda: now[0])
    same_period = dt.datetime(2024, 3, 5, 10, 0, 0, 100000, tzinfo=UTC)
    due, next_check = schedule.is_due(same_period)
    assert not due and next_check == pytest.approx(0.5)
    now[0] = dt.datetime(2024, 3, 5, 10, 1, 0, 2000, tzinfo=UTC)
    due, next_check = schedule.is_due(same_period)
    assert due and next_check == pytest.approx(59.998)
    due, _ = schedule.is_due(now[0])  # just ran: not again this period
    assert not due
    assert schedule.remaining_estimate(same_period) == dt.timedelta(0)


def test_beat_schedules_survive_beats_state_file():
    for schedule in (PeriodSchedule(every=60), PeriodSchedule(cron="0 3 * * *")):
        assert pickle.loads(pickle.dumps(schedule)) == schedule


def test_beat_schedule_is_derived_from_the_settings(settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "SCHEDULE": {
        "often": {"task": MARK, "every": 30, "args": ["x"]},
        "nightly": {"task": MARK, "cron": "15 2 * * *", "args": ["y"]},
    }}
    beat = settings_for_celery()["beat_schedule"]
    assert set(beat) == {"often", "nightly"}
    assert beat["often"]["task"] == CELERY_TICK_TASK
    assert beat["often"]["schedule"] == PeriodSchedule(every=30)
    assert beat["nightly"]["schedule"] == PeriodSchedule(cron="15 2 * * *")
    assert beat["often"]["args"] == [{"name": "often", "task": MARK, "every": 30, "args": ["x"], "kwargs": {}}]
    message = beat["often"]["args"][0]
    assert _route(CELERY_TICK_TASK, [message], {}, {}) == {"queue": "default"}


# -- the tick -----------------------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """Replaces the real send: records (job id, backend, route) per dispatch."""
    calls: list[tuple[str, str, str]] = []

    def fake_send(task, entry, job_id, decided, correlation_id):
        calls.append((job_id, decided.backend, f"{decided.backend}:periodic-{decided.reason}"))

    monkeypatch.setattr(periodic, "_send", fake_send)
    return calls


def _entry(every: int = 60) -> Entry:
    return Entry.from_setting(f"t-{uuid.uuid4().hex[:12]}", {"task": MARK, "every": every, "args": ["tok"]})


def test_a_period_runs_once_however_many_ticks_fire(db, sent, event_log):
    set_route("default", everyone=True)
    entry = _entry()
    fired = time.time()
    first = periodic.tick(entry, "celery", fired)
    again = periodic.tick(entry, "rq", fired + 0.4)
    duplicate = periodic.tick(entry, "rq", fired + 0.5)
    job_id = entry.job_id(entry.period_start(fired))
    assert (first.action, first.backend) == ("dispatched", "rq")
    assert sent == [(job_id, "rq", "rq:periodic-flag-everyone")]
    for outcome in (again, duplicate):
        assert outcome.action == "skipped"
        assert (outcome.reason, outcome.claimed_by, outcome.backend) == ("period already claimed", "celery", "rq")
    skipped = [e for e in event_log.for_job(job_id) if e["event"] == "task.skipped"]
    assert len(skipped) == 2
    assert {(e["backend"], e["queue"], e["task"], e["reason"], e["claimed_by"], e["entry"], e["scheduler"]) for e in skipped} == {
        ("rq", "default", MARK, "period already claimed", "celery", entry.name, "rq")
    }
    assert skipped[0]["period"].endswith("Z")
    set_route("default", everyone=None)


def test_the_next_period_runs_again(db, sent):
    set_route("default", everyone=False)
    entry = _entry()
    fired = time.time()
    periodic.tick(entry, "rq", fired)
    periodic.tick(entry, "rq", fired + 60, now=fired + 60)
    assert [backend for _, backend, _ in sent] == ["celery", "celery"]
    assert len({job_id for job_id, _, _ in sent}) == 2
    set_route("default", everyone=None)


def test_a_percentage_route_gives_the_same_answer_for_the_same_period(db, sent):
    set_route("default", everyone=None, percent=30)
    entry = _entry()
    base = entry.period_start(time.time()) - 300 * 60
    ordering = random.Random(7)
    for k in range(300):
        fired = base + k * 60 + 1
        sides = ["celery", "rq"]
        ordering.shuffle(sides)
        for side in sides:
            periodic.tick(entry, side, fired, now=fired + 1)
    by_job = collections.Counter(job_id for job_id, _, _ in sent)
    assert len(by_job) == 300 and set(by_job.values()) == {1}
    flag = routing.FlagState("p", None, 30)
    for job_id, backend, route in sent:
        period = int(job_id.rsplit("-", 1)[1])
        assert backend == routing.decide(flag, f"{entry.name}:{period}").backend
        assert route == f"{backend}:periodic-flag-percent"
    share = sum(backend == "rq" for _, backend, _ in sent) / len(sent)
    assert 0.2 < share < 0.4
    set_route("default", everyone=None)


def test_the_first_tick_of_a_period_fixes_its_route_across_a_flip(db, sent):
    entry = _entry()
    fired = time.time()
    set_route("default", everyone=False)
    periodic.tick(entry, "rq", fired)
    set_route("default", everyone=True)
    skipped = periodic.tick(entry, "celery", fired + 0.1)
    assert [backend for _, backend, _ in sent] == ["celery"]
    assert skipped.backend == "celery" and skipped.action == "skipped"
    set_route("default", everyone=None)


def test_a_tick_far_past_its_period_is_dropped(db, sent, event_log, redis_conn):
    entry = _entry(every=10)
    fired = entry.period_start(time.time()) - 30
    outcome = periodic.tick(entry, "celery", fired)
    assert outcome.action == "skipped" and outcome.reason == periodic.SKIP_LATE
    assert sent == []
    assert not redis_conn.exists(entry.claim_key(entry.period_start(fired)))
    [event] = event_log.for_job(outcome.job_id)
    assert event["event"] == "task.skipped" and event["reason"] == "periodic tick too late"
    assert event["late_s"] >= 30 and event["limit_s"] == 20


def test_a_failed_dispatch_gives_the_period_back(db, monkeypatch, redis_conn):
    entry = _entry()
    fired = time.time()

    def broken(*args, **kwargs):
        raise RuntimeError("broker down")

    monkeypatch.setattr(periodic, "_send", broken)
    with pytest.raises(RuntimeError):
        periodic.tick(entry, "celery", fired)
    assert not redis_conn.exists(entry.claim_key(entry.period_start(fired)))
    calls = []
    monkeypatch.setattr(periodic, "_send", lambda *args: calls.append(args))
    assert periodic.tick(entry, "rq", fired).action == "dispatched"
    assert len(calls) == 1


def test_the_claim_outlives_every_tick_that_may_still_run(db, sent, redis_conn):
    entry = _entry(every=60)
    fired = time.time()
    periodic.tick(entry, "celery", fired)
    key = entry.claim_key(entry.period_start(fired))
    holder = json.loads(redis_conn.get(key))
    assert holder["scheduler"] == "celery" and holder["job_id"] == entry.job_id(entry.period_start(fired))
    ttl = redis_conn.pttl(key) / 1000
    assert periodic.LATE_PERIODS * 60 < ttl <= (periodic.LATE_PERIODS + 1) * 60 + 60


# -- schedule-sync and the RQ scheduler ------------------------------------------------------------


@pytest.fixture
def scheduler():
    scheduler = TaskbridgeScheduler()
    yield scheduler
    periodic_rq.sync({}, scheduler)


def _sync(*extra: str) -> str:
    out = io.StringIO()
    call_command("taskbridge", "schedule-sync", *extra, stdout=out)
    return out.getvalue()


def _snapshot(scheduler) -> dict:
    conn = scheduler.connection
    members = {m.decode(): s for m, s in conn.zrange(scheduler.scheduled_jobs_key, 0, -1, withscores=True)}
    return {
        job_id: (score, conn.hgetall(f"rq:job:{job_id}"))
        for job_id, score in members.items()
        if job_id.startswith(RQ_JOB_PREFIX)
    }


def _use_schedule(settings, schedule):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "SCHEDULE": schedule}


def test_sync_adds_then_changes_nothing(settings, scheduler):
    _use_schedule(settings, {
        "sync-a": {"task": MARK, "every": 60, "args": ["a"]},
        "sync-b": {"task": MARK, "cron": "15 2 * * *", "args": ["b"]},
    })
    out = _sync()
    assert "added sync-a: tests.taskapp.tasks.periodic_mark every 60 s on queue 'default'" in out
    assert "added sync-b" in out and "2 added, 0 changed, 0 removed" in out
    first = _snapshot(scheduler)
    assert set(first) == {"taskbridge-periodic-sync-a", "taskbridge-periodic-sync-b"}
    score, job = first["taskbridge-periodic-sync-a"]
    assert score % 60 == 0 and time.time() < score <= time.time() + 60
    assert first["taskbridge-periodic-sync-b"][0] == Timing(cron="15 2 * * *").next_start(time.time())
    # JSON on the wire, never pickle.
    data = json.loads(zlib.decompress(job[b"data"]))
    assert data[0] == "taskbridge.backends.rq.periodic.run_tick"
    assert data[2] == [{"name": "sync-a", "task": MARK, "every": 60, "args": ["a"], "kwargs": {}}]
    assert json.loads(job[b"meta"]) == {META: {"every": 60}}
    assert job[b"origin"] == b"default"

    again = _sync()
    assert again.strip() == "schedule-sync: no changes (2 entries in sync)"
    assert _snapshot(scheduler) == first


def test_sync_updates_changed_entries_and_removes_deleted_ones(settings, scheduler):
    conn = scheduler.connection
    _use_schedule(settings, {
        "sync-keep": {"task": MARK, "every": 60, "args": ["k"]},
        "sync-args": {"task": MARK, "every": 60, "args": ["old"]},
        "sync-timing": {"task": MARK, "every": 60, "args": ["t"]},
        "sync-gone": {"task": MARK, "every": 60, "args": ["g"]},
    })
    _sync()
    foreign = PeriodicJob.create("tests.taskapp.tasks.add", args=[1, 2], connection=conn, id="someone-elses-job")
    foreign.save()
    conn.zadd(scheduler.scheduled_jobs_key, {"someone-elses-job": time.time() + 3600})
    before = _snapshot(scheduler)
    try:
        _use_schedule(settings, {
            "sync-keep": {"task": MARK, "every": 60, "args": ["k"]},
            "sync-args": {"task": MARK, "every": 60, "args": ["new"]},
            "sync-timing": {"task": MARK, "every": 3600, "args": ["t"]},
        })
        assert "changed sync-args" in _sync("--dry-run")
        assert _snapshot(scheduler) == before
        out = _sync()
        assert "1 added" not in out and "2 changed, 1 removed, 1 unchanged" in out
        assert "removed sync-gone: no longer in TASKBRIDGE['SCHEDULE']" in out
        after = _snapshot(scheduler)
        assert set(after) == {"taskbridge-periodic-sync-keep", "taskbridge-periodic-sync-args", "taskbridge-periodic-sync-timing"}
        assert not conn.exists("rq:job:taskbridge-periodic-sync-gone")
        assert after["taskbridge-periodic-sync-keep"] == before["taskbridge-periodic-sync-keep"]
        assert after["taskbridge-periodic-sync-args"][0] == before["taskbridge-periodic-sync-args"][0]  # same next fire
        assert json.loads(zlib.decompress(after["taskbridge-periodic-sync-args"][1][b"data"]))[2][0]["args"] == ["new"]
        assert after["taskbridge-periodic-sync-timing"][0] % 3600 == 0
        assert conn.zscore(scheduler.scheduled_jobs_key, "someone-elses-job") is not None
        assert _sync().strip() == "schedule-sync: no changes (3 entries in sync)"
    finally:
        conn.zrem(scheduler.scheduled_jobs_key, "someone-elses-job")
        foreign.delete()


def test_sync_refuses_a_bad_schedule_and_changes_nothing(settings, scheduler):
    _use_schedule(settings, {"sync-ok": {"task": MARK, "every": 60, "args": ["a"]}})
    _sync()
    before = _snapshot(scheduler)
    _use_schedule(settings, {"sync-bad": {"task": "tests.taskapp.tasks.no_such_task", "every": 60}})
    with pytest.raises(CommandError, match=r"\['sync-bad'\].*not a declared taskbridge task"):
        _sync()
    assert _snapshot(scheduler) == before


def test_the_scheduler_refuses_a_poll_interval_as_long_as_a_period(settings):
    _use_schedule(settings, {"fast": {"task": MARK, "every": 2, "args": ["a"]}})
    with pytest.raises(CommandError, match="not shorter than the shortest period"):
        call_command("taskbridge", "scheduler", "--interval", "2", "--no-sync")


def test_the_rq_scheduler_fires_at_period_starts_as_json(settings, scheduler):
    _use_schedule(settings, {"fire": {"task": MARK, "every": 60, "args": ["a"]}})
    _sync()
    conn = scheduler.connection
    job_id = "taskbridge-periodic-fire"
    conn.zadd(scheduler.scheduled_jobs_key, {job_id: int(time.time()) - 5})  # due, and late
    queue = Queue("default", connection=conn, serializer=JSONSerializer)
    before = time.time()
    try:
        scheduler.enqueue_jobs()
        job = PeriodicJob.fetch(job_id, connection=conn)
        # Enqueued now (a live RQ worker of the session may already have run it).
        assert job.enqueued_at.timestamp() >= before - 0.01
        assert job.get_status() in ("queued", "started", "finished")
        score = conn.zscore(scheduler.scheduled_jobs_key, job_id)
        # Re-scheduled at the next period start, not "now + 60": fires do not drift.
        assert score == Timing(every=60).next_start(before)
        assert before <= job.meta[META]["fired_at"] <= time.time()
        assert job.meta[META]["every"] == 60
        assert json.loads(zlib.decompress(conn.hget(f"rq:job:{job_id}", "data")))[0] == "taskbridge.backends.rq.periodic.run_tick"
    finally:
        queue.remove(job_id)


def test_the_system_check_reports_bad_entries(settings):
    assert periodic.check_schedule() == []
    _use_schedule(settings, {"gone": {"task": "tests.taskapp.tasks.no_such_task", "every": 60}})
    [error] = periodic.check_schedule()
    assert error.id == "taskbridge.E021" and "['gone']" in error.msg
    _use_schedule(settings, {"odd": {"task": MARK, "every": 60, "cron": "0 3 * * *"}})
    [error] = periodic.check_schedule()
    assert error.id == "taskbridge.E020" and "['odd']" in error.msg
