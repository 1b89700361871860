"""Turning a media file into text (DeepSight sent audio / video to a Whisper service).

The local implementation cannot recognise speech; it describes the media it
can read (WAV duration, channels, rate via the stdlib ``wave`` module) so the
source still has text to index and a real transcriber can replace it.
"""

from __future__ import annotations

import io
import wave
from typing import Protocol


class TranscriptionError(Exception):
    pass


class Transcriber(Protocol):
    def transcribe(self, data: bytes, content_type: str, filename: str) -> str: ...


class MetadataTranscriber:
    def transcribe(self, data: bytes, content_type: str, filename: str) -> str:
        if not data:
            raise TranscriptionError(f"{filename} is empty")
        if content_type in ("audio/wav", "audio/x-wav", "audio/wave") or filename.lower().endswith(".wav"):
            try:
                with wave.open(io.BytesIO(data)) as audio:
                    seconds = audio.getnframes() / audio.getframerate()
                    return (
                        f"Audio recording {filename}: {seconds:.2f} seconds, {audio.getnchannels()} channel(s), "
                        f"{audio.getframerate()} Hz. No speech transcription is available locally."
                    )
            except (wave.Error, EOFError) as exc:
                raise TranscriptionError(f"{filename} is not a readable WAV file: {exc}") from None
        kind = content_type.split("/")[0] if "/" in content_type else "media"
        return f"{kind.capitalize()} file {filename} ({content_type}, {len(data)} bytes). No transcription is available locally."
