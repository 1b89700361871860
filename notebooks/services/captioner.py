"""Captions for the images found in a source (DeepSight ran a vision model for this)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit


class Captioner(Protocol):
    def caption(self, image: dict[str, str], context: str) -> str: ...


class AltTextCaptioner:
    """Builds a caption from the image's alt text, else from its file name, plus the page title."""

    def caption(self, image: dict[str, str], context: str) -> str:
        alt = (image.get("alt") or "").strip()
        if alt:
            subject = alt
        else:
            stem = PurePosixPath(unquote(urlsplit(image.get("src", "")).path)).stem
            subject = re.sub(r"[-_.]+", " ", stem).strip() or "an image"
        return f"Figure: {subject}" + (f" (from “{context}”)" if context else "")
