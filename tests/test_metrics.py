"""/metrics: Prometheus' own parser reads it, its counters match the event lines published,
and only staff or the configured bearer token may read it."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskbridge import stream
from taskbridge.guard import ramp as ramps
from taskbridge.models import RouteChange
from tests.conftest import set_route
from tests.support.synthetic import jobs


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


@pytest.fixture(params=["one by one", "buffered"])
def published(request, db, redis_conn):
    """Lines sent one per pipeline, and buffered (counters added up per batch before they are sent): the same counts."""
    stream.reset(redis_conn)
    events = jobs("celery", "default", 7, durations=iter([3.0, 30, 300, 3000, 30_000, 1, 2])) + jobs("rq", "default", 4, ok=False) + jobs("rq", "podcast", 2)
    send = stream.publish if request.param == "one by one" else stream.publish_later
    for event in events:
        send(orjson.dumps(event))
    stream.flush()
    assert len(stream.window(60)) == len(events)
    return events


def test_metrics_parse_and_counts_match_the_events(published, admin_client):
    set_route("default", percent=25)
    ramps.start("podcast", "10,50", hold_seconds=60, hold_jobs=5, origin=RouteChange.Origin.CODE)
    response = admin_client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    parsed = families(response.content.decode())

    expected = Counter((e["queue"], e["backend"], e["event"].removeprefix("task.")) for e in published)
    counted = {
        (s.labels["queue"], s.labels["backend"], s.labels["outcome"]): s.value
        for s in parsed["taskbridge_jobs"].samples if s.name == "taskbridge_jobs_total"
    }
    assert counted == expected

    run = {s.labels["le"]: s.value for s in parsed["taskbridge_run_seconds"].samples
           if s.name == "taskbridge_run_seconds_bucket" and s.labels["queue"] == "default" and s.labels["backend"] == "celery"}
    assert run["0.005"] == 3 and run["0.05"] == 4 and run["0.5"] == 5 and run["5.0"] == 6 and run["+Inf"] == 7
    total = next(s.value for s in parsed["taskbridge_run_seconds"].samples if s.name == "taskbridge_run_seconds_sum" and s.labels["queue"] == "default" and s.labels["backend"] == "celery")
    assert total == pytest.approx(33.336)

    shares = {s.labels["queue"]: s.value for s in parsed["taskbridge_route_candidate_share_percent"].samples}
    assert shares["default"] == 25.0 and shares["podcast"] == 10.0
    steps = {s.labels["queue"]: s.value for s in parsed["taskbridge_ramp_step"].samples}
    assert steps["podcast"] == 1 and steps["default"] == 0
    running = {s.labels["queue"] for s in parsed["taskbridge_ramp_state"].samples if s.labels["state"] == "running" and s.value == 1}
    assert running == {"podcast"}


def test_metrics_need_staff_or_the_token(published, client, django_user_model, settings):
    assert client.get("/metrics").status_code == 401
    user = django_user_model.objects.create_user("plain", password="x")
    client.force_login(user)
    assert client.get("/metrics").status_code == 401
    client.logout()
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "METRICS_TOKEN": "s3cret-token"}
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200 and "taskbridge_jobs_total" in response.content.decode()


def test_events_emitted_by_taskbridge_reach_the_stream_and_the_counters(db, redis_conn, event_log):
    from taskbridge import events

    stream.reset(redis_conn)
    subject = events.Subject("rq", "reports", "tests.taskapp.tasks.add", "job-live-1", 1, None)
    events.emit(events.SUCCEEDED, subject, duration_ms=12.5)
    stream.flush()
    [logged] = [e for e in event_log.all() if e.get("job_id") == "job-live-1"]
    [streamed] = stream.window(60)
    assert streamed == logged
    assert redis_conn.hget(stream.COUNTS_KEY, "task.succeeded|reports|rq") == b"1"


def test_an_unreachable_redis_does_not_stop_the_log_line(db, settings, event_log):
    from taskbridge import events

    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "REDIS_URL": "redis://127.0.0.1:1/0"}
    try:
        events.emit(events.SUCCEEDED, events.Subject("rq", "reports", "t", "job-live-2", 1, None), duration_ms=1.0)
        stream.flush()
        assert stream._paused_until > 0
    finally:
        stream._paused_until = 0.0
    assert [e for e in event_log.all() if e.get("job_id") == "job-live-2"]


def test_the_stream_keeps_about_maxlen_events_whatever_the_batch_size(db, redis_conn, settings):
    """Each batch is one entry; an entry of k lines trims the stream to about MAXLEN / k entries
    (Redis trims whole nodes of 100 entries), so the events kept stay near MAXLEN."""
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "LIVE_STREAM_MAXLEN": 5000}
    stream.reset(redis_conn)
    line = orjson.dumps(jobs("celery", "default", 1)[0])
    for batch in range(2000):
        stream._send([line] * 10)
    kept = len(stream.window(3600))
    assert 5000 <= kept <= 6000
    assert redis_conn.hget(stream.COUNTS_KEY, f"{orjson.loads(line)['event']}|default|celery") == b"20000"
