"""Turning the script into audio (DeepSight called a TTS service).

:class:`ToneSynthesizer` is real signal generation, not speech: each word
becomes a short tone whose pitch follows the word, around a base pitch per
speaker, so the result is a valid, audible WAV file whose length follows the
script. :func:`write_wav` packs the segments with the stdlib ``wave`` module.
"""

from __future__ import annotations

import io
import math
import sys
import wave
import zlib
from array import array
from typing import Iterable, Protocol

from .. import conf

WORD_SECONDS = 0.09
GAP_SECONDS = 0.03
MAX_WORDS = 80
VOICES = {"Host": 196.0, "Guest": 294.0}


class Synthesizer(Protocol):
    sample_rate: int

    def synthesize(self, text: str, voice: str) -> bytes:
        """16-bit signed mono PCM frames, little-endian."""
        ...


class ToneSynthesizer:
    def __init__(self) -> None:
        self.sample_rate = int(conf.get("PODCAST_SAMPLE_RATE"))

    def synthesize(self, text: str, voice: str) -> bytes:
        base = VOICES.get(voice, 247.0)
        rate = self.sample_rate
        samples = array("h")
        word_frames, gap_frames = int(rate * WORD_SECONDS), int(rate * GAP_SECONDS)
        fade = max(1, word_frames // 8)
        for word in text.split()[:MAX_WORDS]:
            frequency = base * 2 ** ((zlib.crc32(word.lower().encode()) % 12) / 12)
            step = 2 * math.pi * frequency / rate
            for n in range(word_frames):
                envelope = min(1.0, n / fade, (word_frames - n) / fade)
                samples.append(int(9000 * envelope * math.sin(step * n)))
            samples.extend([0] * gap_frames)
        samples.extend([0] * (gap_frames * 4))
        if sys.byteorder == "big":
            samples.byteswap()
        return samples.tobytes()


def write_wav(segments: Iterable[bytes], sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        for pcm in segments:
            out.writeframes(pcm)
    return buffer.getvalue()
