"""Writing a Markdown report from a notebook's sources, one section at a time.

:class:`ExtractiveReportWriter` is a small extractive summariser: it scores
sentences by the frequency of their content words (boosted by the topic's
words) and quotes the best ones, each section drawing on one source.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

STOPWORDS = set(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with "
    "not but they their there which who what when where how all can may one more than into also".split()
)


@dataclass(frozen=True)
class Source:
    title: str
    text: str
    url: str = ""


class ReportWriter(Protocol):
    def outline(self, config: dict[str, Any], sources: list[Source]) -> list[str]: ...
    def section(self, index: int, heading: str, config: dict[str, Any], sources: list[Source]) -> str: ...
    def assemble(self, config: dict[str, Any], sources: list[Source], sections: list[tuple[str, str]]) -> str: ...


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.split()) >= 4]


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z'-]+", text.lower()) if w not in STOPWORDS]


def key_sentences(text: str, count: int, topic: str = "") -> list[str]:
    """The ``count`` best sentences of ``text``, in their original order."""
    sentences = _sentences(text)
    frequency = Counter(_words(text))
    boost = set(_words(topic))

    def score(sentence: str) -> float:
        words = _words(sentence)
        return sum(frequency[w] * (3 if w in boost else 1) for w in words) / (len(words) or 1)

    best = sorted(range(len(sentences)), key=lambda i: -score(sentences[i]))[:count]
    return [sentences[i] for i in sorted(best)]


class ExtractiveReportWriter:
    def outline(self, config: dict[str, Any], sources: list[Source]) -> list[str]:
        return [sources[i % len(sources)].title for i in range(config["sections"])]

    def section(self, index: int, heading: str, config: dict[str, Any], sources: list[Source]) -> str:
        source = sources[index % len(sources)]
        per = 2 if config["style"] == "brief" else 5
        # A source covered by several sections contributes different sentences to each.
        round_ = index // len(sources)
        picked = key_sentences(source.text, per * (round_ + 1), config.get("topic", ""))[per * round_:]
        return " ".join(picked) or source.text.strip()[:500]

    def assemble(self, config: dict[str, Any], sources: list[Source], sections: list[tuple[str, str]]) -> str:
        everything = "\n".join(s.text for s in sources)
        summary = " ".join(key_sentences(everything, 3, config.get("topic", "")))
        lines = [f"# {config['title']}", ""]
        if config.get("topic"):
            lines += [f"*Topic: {config['topic']}*", ""]
        lines += ["## Summary", "", summary or "(no summary)", ""]
        for number, (heading, body) in enumerate(sections, start=1):
            lines += [f"## {number}. {heading}", "", body, ""]
        if config.get("include_sources", True):
            lines += ["## Sources", ""] + [f"- {s.title}" + (f" — <{s.url}>" if s.url else "") for s in sources] + [""]
        return "\n".join(lines)
