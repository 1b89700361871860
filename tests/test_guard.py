"""The guard's decisions on live windows written straight into the stream (real Redis, real
database): rollback through set_route audited as the guard, no flapping on noise, one active
guard, ramps advanced and reversed. tests/test_guard_workers.py runs it against real workers."""

from __future__ import annotations

import random

import orjson
import pytest

from taskbridge import stream
from taskbridge.guard import ramp as ramps
from taskbridge.guard.config import GuardConfig
from taskbridge.guard.loop import Guard
from taskbridge.guard.state import snapshot
from taskbridge.models import Ramp, RouteChange
from taskbridge.routing import FlagState, flags
from tests.conftest import set_route
from tests.support.synthetic import jobs

QUEUE = "default"


def publish(events):
    for event in events:
        stream.publish(orjson.dumps(event))


def share(queue=QUEUE):
    from waffle.models import Flag
    from taskbridge import conf

    flag = Flag.objects.get(name=conf.queue_flag_name(queue))
    return FlagState(flag.name, flag.everyone, flag.percent).share


@pytest.fixture
def guard(db, redis_conn, monkeypatch):
    # No workers run here: the interlock (tests/test_cockpit_route.py) is taken as passing, so
    # these tests are about the guard's judgement and the ramp's steps alone.
    monkeypatch.setattr("taskbridge.interlock.findings", lambda *args, **kwargs: [])
    stream.reset(redis_conn)
    redis_conn.delete("taskbridge:guard:lease", "taskbridge:guard:state")
    said = []
    guard = Guard(GuardConfig.from_settings(interval=0.2), conn=redis_conn, say=said.append)
    guard.said = said
    yield guard
    guard.lease.release()
    flags.invalidate()


def test_a_failing_canary_is_rolled_back_and_audited_as_the_guard(guard):
    set_route(QUEUE, percent=25)
    publish(jobs("celery", QUEUE, 30) + jobs("rq", QUEUE, 12, ok=False))
    state = guard.tick()
    assert state["queues"][QUEUE]["action"] == "rolled-back"
    assert share() == 0.0
    change = RouteChange.objects.filter(queue=QUEUE).first()
    assert change.origin == RouteChange.Origin.GUARD and change.to_route == "celery"
    assert "success rate rq 0.00%" in change.reason and "12 failed" in change.reason
    assert guard.tick()["queues"][QUEUE]["action"] is None  # stays back: nothing left to roll back


def test_too_few_candidate_jobs_or_a_noisy_small_drop_is_no_rollback(guard):
    set_route(QUEUE, percent=25)
    publish(jobs("celery", QUEUE, 30) + jobs("rq", QUEUE, 5, ok=False))
    assert guard.tick()["queues"][QUEUE]["action"] is None  # 5 < min_samples
    publish(jobs("celery", QUEUE, 30) + jobs("rq", QUEUE, 40) + jobs("rq", QUEUE, 2, ok=False))
    rng = random.Random(7)
    publish(jobs("celery", QUEUE, 50, durations=iter([rng.lognormvariate(3, 1) for _ in range(50)])))
    publish(jobs("rq", QUEUE, 50, durations=iter([rng.lognormvariate(3, 1) for _ in range(50)])))
    state = guard.tick()["queues"][QUEUE]
    assert state["action"] is None and not state["regression"], state["reasons"]
    assert share() == 25.0


def test_old_failures_before_the_last_route_change_are_not_held_against_a_new_canary(guard):
    set_route(QUEUE, percent=25)
    publish(jobs("celery", QUEUE, 30) + jobs("rq", QUEUE, 12, ok=False))
    set_route(QUEUE, percent=10)  # a person starts a new canary after fixing the candidate
    state = guard.tick()["queues"][QUEUE]
    assert state["action"] is None and share() == 10.0


def test_only_one_guard_is_active(guard, redis_conn):
    second = Guard(GuardConfig.from_settings(interval=0.2), conn=redis_conn, say=lambda _: None)
    assert guard.tick()["active"] is True
    standby = second.tick()
    assert standby == {"active": False, "holder": guard.lease.token}
    guard.lease.release()
    assert second.tick()["active"] is True
    second.lease.release()


def test_a_ramp_walks_its_steps_and_a_regression_mid_ramp_reverses_it(guard):
    set_route(QUEUE, everyone=False)
    ramps.start(QUEUE, "5,25,50,100", hold_seconds=0, hold_jobs=3)
    assert share() == 5.0
    assert guard.tick()["queues"][QUEUE]["action"] is None  # no candidate job finished in this step yet
    walked = []
    for _ in range(2):
        publish(jobs("rq", QUEUE, 3) + jobs("celery", QUEUE, 10))
        assert guard.tick()["queues"][QUEUE]["action"] == "ramp-advanced"
        walked.append(share())
    assert walked == [25.0, 50.0]
    publish(jobs("rq", QUEUE, 12, ok=False) + jobs("celery", QUEUE, 30))
    assert guard.tick()["queues"][QUEUE]["action"] == "rolled-back"
    assert share() == 0.0
    ramp = Ramp.objects.get(queue=QUEUE)
    assert ramp.state == Ramp.State.ROLLED_BACK and ramp.step == 2
    audit = list(RouteChange.objects.filter(queue=QUEUE).order_by("id").values_list("origin", "to_route"))
    assert audit[-4:] == [("command", "rq 5%"), ("guard", "rq 25%"), ("guard", "rq 50%"), ("guard", "celery")]
    view = snapshot()["queues"][QUEUE]
    assert view["ramp"]["state"] == "rolled-back" and view["verdict"] == "hold"


def test_a_ramp_ends_done_and_a_route_changed_by_hand_pauses_it(guard):
    ramps.start(QUEUE, [50, 100], hold_seconds=0, hold_jobs=2)
    publish(jobs("rq", QUEUE, 2))
    assert guard.tick()["queues"][QUEUE]["action"] == "ramp-advanced"
    publish(jobs("rq", QUEUE, 2))
    assert guard.tick()["queues"][QUEUE]["action"] == "ramp-done"
    assert share() == 100.0 and Ramp.objects.get(queue=QUEUE).state == Ramp.State.DONE
    ramps.start(QUEUE, [10, 20], hold_seconds=0, hold_jobs=1)
    set_route(QUEUE, percent=15)
    assert guard.tick()["queues"][QUEUE]["action"] == "ramp-paused"
    assert Ramp.objects.get(queue=QUEUE).state == Ramp.State.PAUSED


def test_bad_ramp_plans_are_refused(db):
    from taskbridge.errors import RouteError

    for steps in ("25,5", "0,50", "5,150", "five"):
        with pytest.raises(RouteError):
            ramps.start(QUEUE, steps, hold_seconds=1, hold_jobs=1)
    with pytest.raises(RouteError, match="no ramp"):
        ramps.pause("podcast")


def test_unknown_guard_setting_is_refused(settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "GUARD": {"INTERVALL": 1}}
    with pytest.raises(ValueError, match="INTERVALL|intervall"):
        GuardConfig.from_settings()
