"""The cockpit's guard column and ramp controls, driven with Django's test client against
real Redis and a real guard tick: the live JSON carries the guard's verdict, figures and
ramp per queue (and says plainly when no guard runs); an operator starts, pauses and
resumes a ramp, audited with origin cockpit; refusals answer 409 and bad plans 400,
changing nothing; staff without the route permissions get 403."""

from __future__ import annotations

import orjson
import pytest
from waffle.models import Flag

from taskbridge import conf, stream
from taskbridge.guard.config import GuardConfig
from taskbridge.guard.loop import STATE_KEY, Guard
from taskbridge.models import Ramp, RouteChange
from taskbridge.routing import FlagState, flags
from tests.support.synthetic import jobs
from tests.support.domain import staff_client
from tests.test_cockpit import COCKPIT, IDLE, LIVE, idle_queue, operator, viewer  # noqa: F401  (fixtures)

RAMP = COCKPIT + "ramp/"
PLAN = {"queue": IDLE, "steps": "5,25,50,100", "hold_seconds": "600", "hold_jobs": "100", "reason": "first canary"}


def _share() -> float | None:
    row = Flag.objects.filter(name=conf.queue_flag_name(IDLE)).values_list("name", "everyone", "percent").first()
    return FlagState(*row).share if row else None


def _queue(client) -> dict:
    data = client.get(LIVE).json()
    [queue] = [q for q in data["queues"] if q["queue"] == IDLE]
    return {**queue, "top": data["guard"]}


@pytest.fixture
def clean(redis_conn):
    """No guard state, lease or stream left by another test."""
    stream.reset(redis_conn)
    redis_conn.delete("taskbridge:guard:lease", STATE_KEY)
    yield redis_conn
    redis_conn.delete("taskbridge:guard:lease", STATE_KEY)
    flags.invalidate()


@pytest.fixture
def guard(clean):
    guard = Guard(GuardConfig.from_settings(interval=0.2), conn=clean, say=lambda line: None)
    yield guard
    guard.lease.release()


@pytest.fixture
def interlock_passes(monkeypatch):
    # No worker consumes the idle queue: the interlock (tests/test_cockpit_route.py, and
    # test_the_interlock_refuses_a_ramp_start below) is taken as passing so these tests are
    # about the cockpit's ramp controls alone.
    monkeypatch.setattr("taskbridge.interlock.findings", lambda *args, **kwargs: [])


def test_without_a_guard_the_json_and_page_say_guard_not_running(viewer, clean):
    queue = _queue(viewer)
    assert queue["top"] == {"running": False, "holder": None, "age": None}
    assert queue["guard"] == {"running": False, "verdict": None, "regression": False, "reasons": [], "figures": {}, "ramp": None}
    html = viewer.get(COCKPIT).content.decode()
    assert "Guard not running" in html and "guard not running</strong>" in html
    assert "Start ramp" not in html  # a viewer gets no controls


def test_the_json_carries_the_guards_verdict_figures_and_the_ramp(operator, guard, interlock_passes):
    assert operator.post(RAMP + "start/", PLAN).status_code == 302
    for event in jobs(conf.baseline(), IDLE, 20) + jobs(conf.candidate(), IDLE, 12):
        stream.publish(orjson.dumps(event))
    ticked = guard.tick()["queues"][IDLE]
    assert ticked["status"] == "go" and ticked["action"] is None  # the step is held 600 s: the ramp stays at 5 %

    queue = _queue(operator)
    assert queue["top"]["running"] is True and queue["top"]["holder"] == guard.lease.token
    assert 0 <= queue["top"]["age"] < 30
    seen = queue["guard"]
    assert seen["running"] is True and seen["verdict"] == ticked["status"] and seen["regression"] is False
    assert (seen["figures"][conf.candidate()]["succeeded"], seen["figures"][conf.baseline()]["succeeded"]) == (12, 20)
    ramp = seen["ramp"]
    assert (ramp["state"], ramp["step"], ramp["share"], ramp["steps"]) == ("running", 1, 5.0, [5.0, 25.0, 50.0, 100.0])
    assert (ramp["hold_seconds"], ramp["hold_jobs"], ramp["reason"]) == (600.0, 100, "started: first canary")
    html = operator.get(COCKPIT).content.decode()
    assert f'<strong data-field="verdict">{ticked["status"]}</strong>' in html
    assert "ramp running, step 1/4 (5%)" in html and "The guard is running" in html


def test_an_operator_starts_pauses_and_resumes_a_ramp_audited_as_cockpit(operator, guard, interlock_passes):
    started = operator.post(RAMP + "start/", PLAN)
    assert started.status_code == 302 and started["Location"] == COCKPIT
    assert _share() == 5.0
    change = RouteChange.objects.get(queue=IDLE)
    assert (change.origin, change.changed_by.username, change.to_route) == ("cockpit", "operator", f"{conf.candidate()} 5%")
    assert change.reason == "ramp started: step 1/4 (5%): first canary"

    assert operator.post(RAMP + "pause/", {"queue": IDLE}).status_code == 302
    ramp = Ramp.objects.get(queue=IDLE)
    assert (ramp.state, ramp.reason) == ("paused", "paused from the cockpit by operator")
    again = operator.post(RAMP + "pause/", {"queue": IDLE})
    assert again.status_code == 409 and "is paused, not running" in again.content.decode()

    assert operator.post(RAMP + "resume/", {"queue": IDLE}).status_code == 302
    assert Ramp.objects.get(queue=IDLE).state == "running"

    # The candidate regresses: the guard rolls the queue back and ends the ramp; resuming routes the step again.
    for event in jobs(conf.baseline(), IDLE, 30) + jobs(conf.candidate(), IDLE, 12, ok=False):
        stream.publish(orjson.dumps(event))
    assert guard.tick()["queues"][IDLE]["action"] == "rolled-back"
    assert _share() == 0.0 and _queue(operator)["guard"]["ramp"]["state"] == "rolled-back"
    assert operator.post(RAMP + "resume/", {"queue": IDLE}).status_code == 302
    assert _share() == 5.0
    resumed = RouteChange.objects.filter(queue=IDLE).first()
    assert (resumed.origin, resumed.changed_by.username, resumed.reason) == ("cockpit", "operator", "ramp resumed after a rollback: step 1/4")
    assert list(RouteChange.objects.filter(queue=IDLE).order_by("id").values_list("origin", flat=True)) == ["cockpit", "guard", "cockpit"]


def test_the_interlock_refuses_a_ramp_start_with_a_409_and_nothing_changes(operator, clean):
    refused = operator.post(RAMP + "start/", PLAN)
    assert refused.status_code == 409
    text = refused.content.decode()
    assert f"no live {conf.candidate()} worker consumes queue &#x27;{IDLE}&#x27;" in text and "never forced" in text
    assert not Ramp.objects.filter(queue=IDLE).exists() and not RouteChange.objects.filter(queue=IDLE).exists()
    assert _share() is None


@pytest.mark.parametrize("fields, error", [
    ({"steps": "5,abc"}, "ramp steps must be percentages such as 5,25,50,100, got &#x27;5,abc&#x27;"),
    ({"steps": "50,25"}, "ramp steps must rise strictly"),
    ({"steps": "5,150"}, "ramp steps must rise strictly"),
    ({"hold_seconds": "-1"}, "hold_seconds: Ensure this value is greater than or equal to 0"),
    ({"hold_jobs": "many"}, "hold_jobs: Enter a whole number"),
    ({"queue": "nosuch"}, "no queue &#x27;nosuch&#x27; in TASKBRIDGE"),
])
def test_a_bad_plan_answers_400_with_the_error_and_changes_nothing(operator, clean, interlock_passes, fields, error):
    response = operator.post(RAMP + "start/", {**PLAN, **fields})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Ramp.objects.exists() and not RouteChange.objects.filter(queue=IDLE).exists()
    assert _share() is None


def test_pausing_or_resuming_without_a_ramp_is_refused_and_odd_requests_are_answered(operator, clean):
    missing = operator.post(RAMP + "pause/", {"queue": IDLE})
    assert missing.status_code == 409 and f"queue &#x27;{IDLE}&#x27; has no ramp" in missing.content.decode()
    assert operator.post(RAMP + "resume/", {"queue": IDLE}).status_code == 409
    assert operator.post(RAMP + "restart/", {"queue": IDLE}).status_code == 404
    assert operator.get(RAMP + "start/").status_code == 405


def test_staff_without_the_route_permissions_get_403_on_the_ramp_views(viewer, clean, interlock_passes):
    clerk = staff_client("clerk")
    for client in (clerk, viewer):
        for action in ("start", "pause", "resume"):
            assert client.post(RAMP + f"{action}/", PLAN).status_code == 403, action
    assert not Ramp.objects.exists() and _share() is None
