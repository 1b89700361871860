"""The correlation id that ties a web request to every job it causes."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

_current: ContextVar[str | None] = ContextVar("taskbridge_correlation_id", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new() -> str:
    return uuid.uuid4().hex


def get() -> str | None:
    return _current.get()


def get_or_new() -> str:
    return _current.get() or new()


def accept(value: str | None) -> str:
    """An incoming id if it is well-formed, else a new one (ids end up in logs; keep them tame)."""
    return value if value and _VALID.match(value) else new()


def set(value: str | None) -> Token:  # noqa: A001 - mirrors ContextVar.set
    return _current.set(value)


def reset(token: Token) -> None:
    _current.reset(token)
