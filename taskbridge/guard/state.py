"""What the cockpit shows of the guard and the ramps: one JSON-able dict.

``snapshot()`` merges the state the active guard published (its verdict and
figures per queue) with each queue's route and ramp from the database, so it
answers even when no guard runs (``guard.active`` is then false).
"""

from __future__ import annotations

from typing import Any

from .. import conf, routing
from ..models import Ramp
from .loop import published


def ramp_dict(ramp: Ramp | None) -> dict[str, Any] | None:
    if ramp is None:
        return None
    return {
        "state": ramp.state, "steps": ramp.steps, "step": ramp.step + 1, "share": ramp.steps[ramp.step],
        "hold_seconds": ramp.hold_seconds, "hold_jobs": ramp.hold_jobs,
        "step_started_at": ramp.step_started_at.isoformat(), "reason": ramp.reason,
    }


def snapshot() -> dict[str, Any]:
    """``{"guard": {"active", "holder", "at"}, "queues": {queue: {"route", "share", "verdict", "regression",
    "reasons", "figures", "ramp"}}}`` for every configured queue."""
    live = published() or {}
    seen = live.get("queues", {})
    ramps = {ramp.queue: ramp for ramp in Ramp.objects.all()}
    queues = {}
    for queue in conf.queues():
        flag = routing.flags.get(conf.queue_flag_name(queue))
        judged = seen.get(queue, {})
        queues[queue] = {
            "route": routing.describe(queue),
            "share": (flag.share if flag else None) or 0.0,
            "verdict": judged.get("status"),
            "regression": judged.get("regression", False),
            "reasons": judged.get("reasons", []),
            "figures": judged.get("figures", {}),
            "ramp": ramp_dict(ramps.get(queue)),
        }
    return {"guard": {"active": bool(live.get("active")), "holder": live.get("holder"), "at": live.get("at")}, "queues": queues}
