"""Writing the podcast's dialogue from the notebook's sources (DeepSight asked an LLM)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

HOST, GUEST = "Host", "Guest"


@dataclass(frozen=True)
class Source:
    title: str
    text: str


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str


class ScriptWriter(Protocol):
    def write(self, title: str, sources: list[Source], turns: int) -> list[Turn]: ...


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if len(p.strip().split()) >= 3]


class ExtractiveScriptWriter:
    """A host introduces the sources, then host and guest take turns quoting their
    sentences in order, source by source, and the host closes. Always ``turns`` turns."""

    def write(self, title: str, sources: list[Source], turns: int) -> list[Turn]:
        if not sources:
            raise ValueError("no sources to talk about")
        turns = max(2, turns)
        names = ", ".join(f"“{s.title}”" for s in sources[:5])
        script = [Turn(HOST, f"Welcome to {title}. Today we talk about {names}.")]
        pools = [[line for line in sentences(s.text) if line != s.title] or [s.text.strip()[:300]] for s in sources]
        for index in range(turns - 2):
            pool = pools[index % len(pools)]
            line = pool[(index // len(pools)) % len(pool)]
            speaker = GUEST if index % 2 == 0 else HOST
            script.append(Turn(speaker, line))
        script.append(Turn(HOST, f"That was {title}. Thanks for listening."))
        return script


def transcript_text(script: list[Turn]) -> str:
    return "\n".join(f"{turn.speaker}: {turn.text}" for turn in script)
