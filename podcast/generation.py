"""What the podcast tasks do: write the script, synthesise it turn by turn, store the WAV.

Generation is a loop of steps, one per dialogue turn, cancellable between
steps (``notebooks.longjobs``).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notebooks.longjobs import move, stopped
from notebooks.models import KnowledgeBaseItem

from . import conf, services
from .models import PodcastJob
from .services.scriptwriter import Source, transcript_text
from .services.synth import write_wav

Status = PodcastJob.Status


class GenerationError(Exception):
    pass


def generate(job_id: int) -> dict[str, Any]:
    job = PodcastJob.objects.filter(pk=job_id).first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}
    if stopped(job) or not move(job, Status.PENDING, status=Status.GENERATING, started_at=timezone.now(), progress=0):
        return {"job_id": job_id, "status": "skipped", "reason": f"job is {job.status}"}
    try:
        return _generate(job)
    except Exception as exc:
        move(job, Status.GENERATING, status=Status.ERROR, error_message=str(exc)[:4000], completed_at=timezone.now())
        raise


def _generate(job: PodcastJob) -> dict[str, Any]:
    sources = [Source(item.title, item.content) for item in KnowledgeBaseItem.objects.parsed(job.notebook_id)]
    if not sources:
        raise GenerationError("the notebook has no parsed sources to talk about")
    script = services.get_scriptwriter().write(job.title, sources, job.segments)
    move(job, Status.GENERATING, transcript=transcript_text(script))
    synth, delay = services.get_synthesizer(), float(conf.get("PODCAST_STEP_DELAY"))
    audio: list[bytes] = []
    for step, turn in enumerate(script, start=1):
        if stopped(job):
            return {"job_id": job.pk, "status": "cancelled", "progress": step - 1}
        audio.append(synth.synthesize(turn.text, turn.speaker))
        time.sleep(delay)
        move(job, Status.GENERATING, progress=step)
    wav = write_wav(audio, synth.sample_rate)
    key = default_storage.save(f"podcasts/{job.user_id}/{job.pk}/episode.wav", ContentFile(wav))
    seconds = sum(len(chunk) for chunk in audio) / 2 / synth.sample_rate
    if not move(job, Status.GENERATING, status=Status.COMPLETED, audio_file=key, duration_seconds=seconds, completed_at=timezone.now()):
        default_storage.delete(key)  # cancelled during the last step
        return {"job_id": job.pk, "status": "cancelled"}
    return {"job_id": job.pk, "status": "completed", "audio_file": key, "duration_seconds": round(seconds, 3)}

