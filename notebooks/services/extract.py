"""Turning fetched or uploaded bytes into a title and plain text (DeepSight used
Docling / MinerU services for this). HTML via the stdlib parser, PDF via pypdf."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import urljoin


class ExtractionError(Exception):
    """The content cannot be turned into text (unsupported type, broken file, no text)."""


@dataclass
class Extracted:
    title: str
    text: str
    images: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "blockquote", "pre", "hr",
}
_SKIPPED_TAGS = {"script", "style", "noscript", "template", "svg"}


class _HTMLText(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.title_parts: list[str] = []
        self.heading: str | None = None
        self.parts: list[str] = []
        self.images: list[dict[str, str]] = []
        self._skip = 0
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag == "h1":
            self._in_h1 = True
        elif tag == "img":
            values = dict(attrs)
            if values.get("src"):
                self.images.append({"src": urljoin(self.base_url, values["src"] or ""), "alt": (values.get("alt") or "").strip()})
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED_TAGS and self._skip:
            self._skip -= 1
        elif tag == "h1":
            self._in_h1 = False
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip:
            self.parts.append(data)
            if self._in_h1 and self.heading is None and data.strip():
                self.heading = data.strip()


def _tidy(text: str) -> str:
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n"))
    paragraphs = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", paragraphs).strip()


def _decode(body: bytes, charset: str | None) -> str:
    for encoding in filter(None, (charset, "utf-8")):
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("latin-1")


def _first_line(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200] or fallback
    return fallback


def html(body: bytes, charset: str | None, base_url: str) -> Extracted:
    parser = _HTMLText(base_url)
    parser.feed(_decode(body, charset))
    parser.close()
    text = _tidy("".join(parser.parts))
    if not text:
        raise ExtractionError("the page has no text")
    title = _tidy(" ".join(parser.title_parts)) or parser.heading or _first_line(text, base_url)
    return Extracted(title=title[:512], text=text, images=parser.images)


def plain_text(body: bytes, charset: str | None, name: str) -> Extracted:
    text = _tidy(_decode(body, charset))
    if not text:
        raise ExtractionError(f"{name} has no text")
    return Extracted(title=_first_line(text, name), text=text)


def pdf(body: bytes, name: str) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ExtractionError(f"{name} is not a readable PDF: {exc}") from None
    text = _tidy("\n\n".join(pages))
    if not text:
        raise ExtractionError(f"{name} has no extractable text (scanned PDF?)")
    title = meta_title.strip() or _first_line(text, name)
    return Extracted(title=title[:512], text=text, metadata={"pages": len(pages)})


_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".csv", ".rst"}
_HTML_SUFFIXES = {".html", ".htm"}


def document(body: bytes, content_type: str, charset: str | None, name: str, base_url: str = "") -> Extracted:
    """A document by its content type, falling back to its file name's suffix."""
    suffix = PurePosixPath(name).suffix.lower()
    if content_type == "application/pdf" or suffix == ".pdf" or body.startswith(b"%PDF-"):
        return pdf(body, name)
    if content_type in ("text/html", "application/xhtml+xml") or suffix in _HTML_SUFFIXES:
        return html(body, charset, base_url or name)
    if content_type.startswith("text/") or suffix in _TEXT_SUFFIXES:
        return plain_text(body, charset, name)
    raise ExtractionError(f"unsupported document type {content_type or suffix or 'unknown'} for {name}")
