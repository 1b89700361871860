"""Retry policy declared on a task, and the signal a task raises to retry itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry automatically when the task raises one of ``on``.

    The countdown before attempt ``n + 1`` is ``countdown`` (fixed) or
    ``countdown * 2 ** (n - 1)`` capped at ``max_countdown`` (exponential).
    """

    on: tuple[type[BaseException], ...] = (Exception,)
    max_retries: int = 3
    countdown: float = 0
    backoff: Literal["fixed", "exponential"] = "fixed"
    max_countdown: float = 3600

    def __post_init__(self) -> None:
        if self.backoff not in ("fixed", "exponential"):
            raise ValueError(f"RetryPolicy.backoff must be 'fixed' or 'exponential', got {self.backoff!r}")
        if self.max_retries < 0:
            raise ValueError("RetryPolicy.max_retries must be >= 0")

    def countdown_for(self, attempt: int) -> float:
        if self.backoff == "fixed":
            return self.countdown
        return min(self.countdown * 2 ** (attempt - 1), self.max_countdown)


NO_RETRY = RetryPolicy(on=(), max_retries=0)


@dataclass(slots=True)
class RetryRequested(Exception):
    """Raised by :func:`taskbridge.context.retry`; the execution path turns it into a
    retry on the job's own backend. Tasks never catch it."""

    countdown: float
    max_retries: int | None = None
    reason: BaseException | None = field(default=None)

    def __str__(self) -> str:
        return f"retry in {self.countdown}s" + (f" after {self.reason!r}" if self.reason else "")
