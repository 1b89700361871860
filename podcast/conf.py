"""The podcast app's settings, read in one place, with defaults that work out of the box."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Dialogue turns when the request does not say, and the most a request may ask for.
    "PODCAST_DEFAULT_SEGMENTS": 6,
    "PODCAST_MAX_SEGMENTS": 200,
    # Seconds each generation step takes on top of the synthesis itself: the local
    # stand-in's pace (a real TTS service takes seconds per turn). 0 runs flat out.
    "PODCAST_STEP_DELAY": 0.2,
    "PODCAST_SAMPLE_RATE": 8000,
    # Finished jobs older than this are deleted, with their audio, by cleanup_old_podcast_jobs.
    "PODCAST_RETENTION_DAYS": 30,
    # Swappable outside services: dotted paths of the classes to use.
    "PODCAST_SCRIPTWRITER": "podcast.services.scriptwriter.ExtractiveScriptWriter",
    "PODCAST_SYNTHESIZER": "podcast.services.synth.ToneSynthesizer",
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
