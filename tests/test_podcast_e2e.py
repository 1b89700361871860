"""End to end, once with every queue on Celery and once on RQ: podcast jobs through the
HTTP API on real workers. A finished job has a WAV file ``wave`` can open; a running
job cancelled through the API stops and stays cancelled; a job without sources fails."""

from __future__ import annotations

import time
import wave

import pytest
from django.core.files.storage import default_storage

from podcast.models import PodcastJob
from podcast.tasks import cancel_podcast_generation
from taskbridge import TaskHandle, TaskStatus
from tests.support.domain import BACKENDS, client_for, get_json, make_user, new_notebook, parsed_source, post, route_all, wait_until

pytestmark = pytest.mark.integration


def _job(client, job_id: int) -> dict:
    return get_json(client, f"/api/podcasts/{job_id}/")


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_podcast_produces_a_wav_file(transactional_db, workers, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    assert parsed_source(client, notebook_id)["parsing_status"] == "done"

    response = post(client, "/api/podcasts/", {"notebook": notebook_id, "title": "Brokers weekly", "segments": 4})
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["status"] == "pending"
    assert started["task"]["handle"].startswith(f"{backend}:podcast:")

    final = wait_until(lambda: _job(client, started["id"]), lambda j: j["status"] not in ("pending", "generating"))
    assert final["status"] == "completed", final["error"]
    assert final["progress"] == 4 and final["task"]["status"] == "succeeded"
    assert final["transcript"].startswith("Host: Welcome to Brokers weekly.")
    assert "Guest: Redis keeps the queue in memory and on disk.\nHost: Workers acknowledge each job they take." in final["transcript"]

    job = PodcastJob.objects.get(pk=started["id"])
    with default_storage.open(job.audio_file.name, "rb") as stored, wave.open(stored) as audio:
        assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
        assert audio.getnframes() / audio.getframerate() == pytest.approx(job.duration_seconds, abs=0.01)
        assert job.duration_seconds > 1
    download = client.get(final["audio_url"])
    assert download.status_code == 200 and download["Content-Type"] == "audio/wav"


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_cancelling_a_running_podcast_stops_it(transactional_db, workers, event_log, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    parsed_source(client, notebook_id)
    started = post(client, "/api/podcasts/", {"notebook": notebook_id, "segments": 150}).json()  # ~30 s of steps
    wait_until(lambda: _job(client, started["id"]), lambda j: j["status"] == "generating" and j["progress"] >= 2)

    response = post(client, f"/api/podcasts/{started['id']}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    handle = TaskHandle.from_string(started["task"]["handle"])
    assert handle.status() == TaskStatus.CANCELLED

    # The job really stopped: no terminal event other than the cancel, no audio, even later.
    event_log.wait_for(lambda found: any(e["event"] == "task.cancelled" for e in found), job_id=handle.job_id)
    time.sleep(1)
    job = PodcastJob.objects.get(pk=started["id"])
    assert job.status == PodcastJob.Status.CANCELLED and not job.audio_file and job.progress < 150
    events = [e["event"] for e in event_log.for_job(handle.job_id)]
    assert "task.succeeded" not in events and "task.failed" not in events
    assert not default_storage.exists(f"podcasts/{job.user_id}/{job.pk}/episode.wav")
    # The worker is free again (RQ runs one job at a time): a new job on the queue runs at once.
    assert cancel_podcast_generation.enqueue(job.pk).result(timeout=10) == {"job_id": job.pk, "cancelled": False}
    assert post(client, f"/api/podcasts/{started['id']}/cancel/").status_code == 409  # already over


@pytest.mark.parametrize("everyone,backend", BACKENDS)
def test_podcast_without_sources_ends_in_error(transactional_db, workers, everyone, backend):
    route_all(everyone)
    client = client_for(make_user("alice"))
    notebook_id = new_notebook(client)
    started = post(client, "/api/podcasts/", {"notebook": notebook_id}).json()
    final = wait_until(lambda: _job(client, started["id"]), lambda j: j["status"] not in ("pending", "generating"))
    assert final["status"] == "error" and "no parsed sources" in final["error"]
    assert final["task"]["status"] == "failed"
