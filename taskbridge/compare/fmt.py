"""How figures read in words and tables, shared by the verdict's reasons and every renderer."""

from __future__ import annotations

from .times import format_duration, format_iso

MISSING = "-"


def ms(value: float | None) -> str:
    """A duration given in milliseconds, in the unit a person reads fastest."""
    if value is None:
        return MISSING
    if abs(value) < 10:
        return f"{value:.2f} ms"
    if abs(value) < 1000:
        return f"{value:.1f} ms"
    if abs(value) < 60_000:
        return f"{value / 1000:.2f} s"
    return format_duration(value / 1000)


def rate(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.2f}%"


def pp(value: float) -> str:
    return f"{value:.2f} pp"


def ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}x"


def when(seconds: float | None) -> str:
    """A time for a person: to the second, UTC (the JSON keeps microseconds)."""
    text = format_iso(seconds)
    return MISSING if text is None else text[:10] + " " + text[11:19] + "Z"


def count(value: int) -> str:
    return f"{value:,}"


def plural(number: int, word: str) -> str:
    return f"{number:,} {word if number == 1 else word + 's'}"
