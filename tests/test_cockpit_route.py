"""The route command and the interlock: a route to a backend with no live worker on the
queue is refused unless forced with a reason, and a forced change is audited as such."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from waffle.models import Flag

from taskbridge import conf, interlock
from taskbridge.errors import InterlockRefused, RouteError
from taskbridge.flags import set_route
from taskbridge.models import RouteChange
from taskbridge.routing import FlagState

QUEUE = "cockpit-idle"


@pytest.fixture(autouse=True)
def idle_queue(settings):
    """A queue that no worker consumes, whatever workers this test session has started."""
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "QUEUES": {**settings.TASKBRIDGE["QUEUES"], QUEUE: {"timeout": 60}}}


def _share() -> float | None:
    row = Flag.objects.filter(name=conf.queue_flag_name(QUEUE)).values_list("name", "everyone", "percent").first()
    return FlagState(*row).share if row else None


def _route(*args: str) -> str:
    out = io.StringIO()
    call_command("taskbridge", "route", QUEUE, *args, stdout=out)
    return out.getvalue()


def test_receiving_backends_follow_the_share():
    assert interlock.receiving(None) == [conf.baseline()]
    assert interlock.receiving(0) == [conf.baseline()]
    assert interlock.receiving(30) == [conf.baseline(), conf.candidate()]
    assert interlock.receiving(100) == [conf.candidate()]


@pytest.mark.django_db
def test_the_command_is_refused_without_live_workers_and_the_flag_stays(redis_conn):
    before = _share()
    with pytest.raises(CommandError, match=rf"no live {conf.candidate()} worker consumes queue '{QUEUE}'"):
        _route("candidate", "--reason", "try")
    assert _share() == before
    assert not RouteChange.objects.filter(queue=QUEUE).exists()


@pytest.mark.django_db
def test_forcing_needs_a_reason(redis_conn):
    with pytest.raises(CommandError, match="needs a reason"):
        _route("25%", "--force")
    assert not RouteChange.objects.filter(queue=QUEUE).exists()


@pytest.mark.django_db
def test_a_forced_change_is_made_and_audited_as_forced(redis_conn, event_log):
    output = _route("25%", "--force", "--reason", "workers are starting")
    assert _share() == 25.0
    change = RouteChange.objects.filter(queue=QUEUE).first()
    assert (change.origin, change.reason, change.forced) == ("command", "workers are starting", True)
    assert change.to_route == f"{conf.candidate()} 25%"
    assert "forced past the interlock" in output
    [event] = [e for e in event_log.all() if e["event"] == "route.changed" and e.get("reason") == "workers are starting"]
    assert event["forced"] is True and event["origin"] == "command"


@pytest.mark.django_db
def test_code_is_not_checked_and_an_unchanged_route_is_never_refused(redis_conn):
    set_route(QUEUE, "candidate")  # origin "code": a test's own set-up
    assert _share() == 100.0
    assert "route unchanged" in _route("candidate")  # the same route again: nothing to refuse


@pytest.mark.django_db
def test_bad_input_gets_a_clear_error():
    with pytest.raises(CommandError, match="not in TASKBRIDGE"):
        call_command("taskbridge", "route", "nosuchqueue", "candidate", stdout=io.StringIO())
    with pytest.raises(CommandError, match="percentage"):
        _route("sideways")
    with pytest.raises(CommandError, match="between 0 and 100"):
        _route("150%")


@pytest.mark.django_db
def test_the_guard_is_refused_like_an_operator(redis_conn):
    with pytest.raises(InterlockRefused, match=f"no live {conf.candidate()} worker"):
        set_route(QUEUE, 10, origin="guard", reason="ramp step 1")
    assert _share() is None
    change = set_route(QUEUE, 10, origin="guard", reason="ramp step 1", force=True)
    assert (change.origin, change.forced) == ("guard", True)


def test_interlock_refused_is_a_route_error():
    assert issubclass(InterlockRefused, RouteError)


@pytest.mark.integration
@pytest.mark.django_db
def test_with_live_workers_on_both_backends_the_command_routes_unforced(workers):
    out = io.StringIO()
    call_command("taskbridge", "route", "validation", "40%", "--reason", "canary", stdout=out)
    change = RouteChange.objects.filter(queue="validation").first()
    assert (change.to_route, change.forced, change.origin) == (f"{conf.candidate()} 40%", False, "command")
    assert "forced" not in out.getvalue()
