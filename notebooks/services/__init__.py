"""Swappable stand-ins for the outside services DeepSight called.

Each module holds a small interface (a ``Protocol``) and a local implementation
that really does the work. A team swaps in the real client by pointing the
matching setting (``NOTEBOOKS_FETCHER``, ``NOTEBOOKS_KNOWLEDGE_INDEX``, …) at
another class with the same methods; :func:`load` builds it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.utils.module_loading import import_string


@lru_cache(maxsize=None)
def _instance(path: str) -> Any:
    return import_string(path)()


def load(path: str) -> Any:
    """One shared instance of the class at ``path`` per process."""
    return _instance(path)


def get_fetcher():
    from .. import conf

    return load(conf.get("NOTEBOOKS_FETCHER"))


def get_knowledge_index():
    from .. import conf

    return load(conf.get("NOTEBOOKS_KNOWLEDGE_INDEX"))


def get_captioner():
    from .. import conf

    return load(conf.get("NOTEBOOKS_CAPTIONER"))


def get_transcriber():
    from .. import conf

    return load(conf.get("NOTEBOOKS_TRANSCRIBER"))
