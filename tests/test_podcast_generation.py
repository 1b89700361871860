"""Podcast generation run inline (no workers): script, WAV synthesis, cancellation by row,
the cancel task, and the clean-up of old jobs and their audio."""

from __future__ import annotations

import datetime as dt
import io
import wave

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notebooks.models import KnowledgeBaseItem, Notebook
from podcast import tasks
from podcast.models import PodcastJob
from podcast.services.scriptwriter import ExtractiveScriptWriter, Source
from podcast.services.synth import ToneSynthesizer, write_wav

Status = PodcastJob.Status


@pytest.fixture
def notebook(db, django_user_model, settings):
    settings.PODCAST_STEP_DELAY = 0
    user = django_user_model.objects.create_user("host")
    notebook = Notebook.objects.create(user=user, name="Show notes")
    KnowledgeBaseItem.objects.create(notebook=notebook, title="Brokers", parsing_status="done",
                                     content="Brokers pass messages along. Workers take one job at a time. Queues keep order.")
    return notebook


def test_script_has_the_asked_number_of_turns():
    script = ExtractiveScriptWriter().write("Show", [Source("A", "One two three four. Five six seven eight.")], 5)
    assert len(script) == 5 and script[0].speaker == "Host" and script[1].text == "One two three four."
    with pytest.raises(ValueError):
        ExtractiveScriptWriter().write("Show", [], 3)


def test_synthesised_audio_is_a_valid_wav():
    synth = ToneSynthesizer()
    pcm = [synth.synthesize("hello there world", "Host"), synth.synthesize("hi", "Guest")]
    with wave.open(io.BytesIO(write_wav(pcm, synth.sample_rate))) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 8000)
        assert audio.getnframes() == sum(len(p) for p in pcm) // 2 > 0


def test_generation_inline_completes_with_audio_and_transcript(notebook):
    job = PodcastJob.objects.create(user=notebook.user, notebook=notebook, title="Episode 1", segments=3)
    result = tasks.process_podcast_generation(job.pk)
    job.refresh_from_db()
    assert result["status"] == "completed" and job.status == Status.COMPLETED and job.progress == 3
    assert job.transcript.splitlines()[1] == "Guest: Brokers pass messages along."
    with job.audio_file.open("rb") as stored, wave.open(stored) as audio:
        assert audio.getnframes() > 0


def test_a_cancelled_job_does_not_start(notebook):
    job = PodcastJob.objects.create(user=notebook.user, notebook=notebook, title="E", status=Status.CANCELLED)
    assert tasks.process_podcast_generation(job.pk)["status"] == "skipped"
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and not job.audio_file


def test_cancel_task_marks_the_job_cancelled(notebook):
    job = PodcastJob.objects.create(user=notebook.user, notebook=notebook, title="E", status=Status.GENERATING)
    assert tasks.cancel_podcast_generation(job.pk) == {"job_id": job.pk, "cancelled": True}
    assert PodcastJob.objects.get(pk=job.pk).status == Status.CANCELLED
    assert tasks.cancel_podcast_generation(job.pk)["cancelled"] is False
    assert tasks.cancel_podcast_generation(10_000)["cancelled"] is False


def test_cleanup_deletes_old_finished_jobs_and_their_audio(notebook):
    def job(status: str, days_old: int) -> PodcastJob:
        created = PodcastJob.objects.create(user=notebook.user, notebook=notebook, title=status, status=status)
        created.audio_file.save("episode.wav", ContentFile(b"RIFF"), save=True)
        PodcastJob.objects.filter(pk=created.pk).update(updated_at=timezone.now() - dt.timedelta(days=days_old))
        return created

    old, old_error, recent, running = job(Status.COMPLETED, 31), job(Status.ERROR, 40), job(Status.COMPLETED, 2), job(Status.GENERATING, 60)
    assert tasks.cleanup_old_podcast_jobs() == {"deleted": 2}
    assert set(PodcastJob.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not default_storage.exists(old.audio_file.name) and not default_storage.exists(old_error.audio_file.name)
    assert default_storage.exists(recent.audio_file.name)
