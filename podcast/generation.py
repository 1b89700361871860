"""What the podcast tasks do: write the script, synthesise it turn by turn, store the WAV.

Generation is a loop of steps (one per dialogue turn) that checks between
steps whether the job was cancelled, through taskbridge (the handle was
cancelled) or through the row (the cancel service marked it). Every status
write is conditional on the status it expects, so a job cancelled while it
runs stays cancelled whatever the task was doing at that moment.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notebooks.models import KnowledgeBaseItem
from taskbridge import context

from . import conf, services
from .models import PodcastJob
from .services.scriptwriter import Source, transcript_text
from .services.synth import write_wav

Status = PodcastJob.Status


class GenerationError(Exception):
    pass


def move(job_id: int, expected: str | tuple[str, ...], **fields: Any) -> bool:
    """Update the job only if it is still in ``expected``; False when it is not (e.g. cancelled)."""
    expected = (expected,) if isinstance(expected, str) else expected
    return bool(PodcastJob.objects.filter(pk=job_id, status__in=expected).update(updated_at=timezone.now(), **fields))


def _stopped(job_id: int) -> bool:
    if context.current() is not None and context.is_cancelled():
        return True
    return PodcastJob.objects.filter(pk=job_id, status=Status.CANCELLED).exists()


def sources_of(notebook_id: int) -> list[Source]:
    items = KnowledgeBaseItem.objects.filter(notebook_id=notebook_id, parsing_status=KnowledgeBaseItem.ParsingStatus.DONE)
    return [Source(item.title, item.content) for item in items.order_by("created_at") if item.content.strip()]


def generate(job_id: int) -> dict[str, Any]:
    job = PodcastJob.objects.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}
    if _stopped(job_id) or not move(job_id, Status.PENDING, status=Status.GENERATING, started_at=timezone.now(), progress=0):
        return {"job_id": job_id, "status": "skipped", "reason": f"job is {job.status}"}
    try:
        return _generate(job)
    except Exception as exc:
        move(job_id, Status.GENERATING, status=Status.ERROR, error_message=str(exc)[:4000], completed_at=timezone.now())
        raise


def _generate(job: PodcastJob) -> dict[str, Any]:
    sources = sources_of(job.notebook_id)
    if not sources:
        raise GenerationError("the notebook has no parsed sources to talk about")
    script = services.get_scriptwriter().write(job.title, sources, job.segments)
    move(job.pk, Status.GENERATING, transcript=transcript_text(script))
    synth, delay = services.get_synthesizer(), float(conf.get("PODCAST_STEP_DELAY"))
    audio: list[bytes] = []
    for step, turn in enumerate(script, start=1):
        if _stopped(job.pk):
            return {"job_id": job.pk, "status": "cancelled", "progress": step - 1}
        audio.append(synth.synthesize(turn.text, turn.speaker))
        time.sleep(delay)
        move(job.pk, Status.GENERATING, progress=step)
    wav = write_wav(audio, synth.sample_rate)
    key = default_storage.save(f"podcasts/{job.user_id}/{job.pk}/episode.wav", ContentFile(wav))
    seconds = sum(len(chunk) for chunk in audio) / 2 / synth.sample_rate
    if not move(job.pk, Status.GENERATING, status=Status.COMPLETED, audio_file=key, duration_seconds=seconds, completed_at=timezone.now()):
        default_storage.delete(key)  # cancelled during the last step
        return {"job_id": job.pk, "status": "cancelled"}
    return {"job_id": job.pk, "status": "completed", "audio_file": key, "duration_seconds": round(seconds, 3)}


def cleanup_old(days: int) -> int:
    """Delete finished jobs last updated more than ``days`` days ago, and their audio files."""
    cutoff = timezone.now() - timezone.timedelta(days=days)
    deleted = 0
    for job in PodcastJob.objects.filter(status__in=PodcastJob.FINISHED, updated_at__lt=cutoff).iterator():
        if job.audio_file:
            job.audio_file.delete(save=False)
        job.delete()
        deleted += 1
    return deleted
