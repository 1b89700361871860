"""Timestamps as float seconds since the epoch (UTC): parsing and formatting."""

from __future__ import annotations

import datetime as dt
import math
import re

UTC = dt.timezone.utc

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_iso(value: str) -> float:
    """Seconds since the epoch for an ISO 8601 date or date-time; naive means UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_iso(seconds: float | None) -> str | None:
    """The writer's own format (microseconds, ``Z``), so times round-trip exactly."""
    if seconds is None or math.isinf(seconds) or math.isnan(seconds):
        return None
    return dt.datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1w`` or ``250ms``."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h, 1d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def format_duration(seconds: float) -> str:
    """Compact human form for ages and horizons: ``45s``, ``12m05s``, ``3h07m``, ``2d04h``."""
    total = int(round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def parse_timestamp(stamp: object) -> float | None:
    """Seconds since the epoch for an event's ``timestamp``, or ``None`` when it is not an ISO 8601 time.

    The parser's hot loop calls ``datetime.fromisoformat`` itself for the
    writer's ``…Z`` form (cheaper than any cache of prefixes, measured); this
    is the general path, where no zone means UTC.
    """
    if not isinstance(stamp, str):
        return None
    try:
        return parse_iso(stamp)
    except ValueError:
        return None
