"""Acting on a job that never existed changes nothing; per-call options are checked at
dispatch with an ArgumentError naming the option."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from taskbridge import ArgumentError, TaskHandle, TaskStatus
from taskbridge.ledger import key as ledger_key
from tests.taskapp import tasks


@pytest.mark.parametrize("backend", ["celery", "rq"])
def test_a_handle_to_a_job_that_never_existed_is_unknown_and_cancel_writes_nothing(backend, redis_conn, event_log):
    before = len(event_log.all())
    handle = TaskHandle.from_string(f"{backend}:default:never-dispatched")
    assert handle.cancel() is False
    assert handle.status() == TaskStatus.UNKNOWN
    assert not redis_conn.exists(ledger_key("never-dispatched"))
    assert [e for e in event_log.all()[before:] if e.get("job_id") == "never-dispatched"] == []


def test_a_handle_names_a_configured_backend():
    with pytest.raises(ValueError, match="celery|rq"):
        TaskHandle.from_string("dramatiq:default:abc")


@pytest.mark.parametrize("countdown", [math.nan, math.inf, -1, 10**12, "60", True])
def test_non_finite_negative_absurd_or_non_numeric_countdowns_are_refused(countdown):
    with pytest.raises(ArgumentError) as raised:
        tasks.add.using(countdown=countdown)
    assert raised.value.path == "countdown" and "tests.taskapp.tasks.add" in str(raised.value)


def test_naive_or_far_future_etas_are_refused():
    with pytest.raises(ArgumentError, match="timezone-aware"):
        tasks.add.using(eta=dt.datetime.now())
    with pytest.raises(ArgumentError, match="days ahead"):
        tasks.add.using(eta=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400))
    assert tasks.add.using(eta=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).eta is not None


def test_a_job_id_with_a_nul_character_is_refused():
    with pytest.raises(ArgumentError, match="job_id"):
        tasks.add.using(job_id="ab\x00c")
