"""Stand-ins for the services DeepSight's podcast generation called (an LLM for the
script, a TTS engine for the audio); swap them through PODCAST_SCRIPTWRITER /
PODCAST_SYNTHESIZER."""

from __future__ import annotations

from notebooks.services import load

from .. import conf


def get_scriptwriter():
    return load(conf.get("PODCAST_SCRIPTWRITER"))


def get_synthesizer():
    return load(conf.get("PODCAST_SYNTHESIZER"))
