"""Progressive ramps: a queue's candidate share raised step by step (5 % → 25 % → 50 % → 100 %).

A person starts, pauses and resumes a ramp (cockpit or ``taskbridge ramp``);
the guard advances it when a step has been held ``hold_seconds`` and
``hold_jobs`` jobs finished on the candidate since it began, with no
regression. Every step is a :func:`taskbridge.flags.set_route` and so an
audited route change; a regression rolls the queue back and ends the ramp
as *rolled back*, which only a person can start again.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import conf
from ..errors import RouteError
from ..flags import set_route
from ..models import Ramp, RouteChange


def parse_steps(text: str | list[float]) -> list[float]:
    """``"5,25,50,100"`` or a list: strictly rising shares in (0, 100]."""
    raw = text.split(",") if isinstance(text, str) else list(text)
    try:
        steps = [float(str(item).strip().removesuffix("%")) for item in raw if str(item).strip()]
    except ValueError:
        raise RouteError(f"ramp steps must be percentages such as 5,25,50,100, got {text!r}") from None
    if not steps or any(not 0 < step <= 100 for step in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
        raise RouteError(f"ramp steps must rise strictly, each above 0 and at most 100, got {text!r}")
    return steps


def start(queue: str, steps: str | list[float], *, hold_seconds: float, hold_jobs: int, user: Any = None,
          origin: str = RouteChange.Origin.COMMAND, reason: str = "") -> Ramp:
    """Start (or restart) ``queue``'s ramp at its first step, routing that share now; ``reason``
    (the person's why) goes into the ramp and the first step's audit row."""
    conf.queue(queue)
    plan = parse_steps(steps)
    if hold_seconds < 0 or hold_jobs < 0:
        raise RouteError("a ramp's hold time and job count must not be negative")
    with transaction.atomic():
        ramp, _ = Ramp.objects.update_or_create(queue=queue, defaults={
            "steps": plan, "hold_seconds": hold_seconds, "hold_jobs": hold_jobs, "step": 0,
            "state": Ramp.State.RUNNING, "step_started_at": timezone.now(), "reason": f"started: {reason}" if reason else "started",
        })
        why = f"ramp started: step 1/{len(plan)} ({plan[0]:g}%)" + (f": {reason}" if reason else "")
        set_route(queue, plan[0], user=user, origin=origin, reason=why)
    return ramp


def pause(queue: str, reason: str = "paused by hand") -> Ramp:
    """Hold the ramp at its current step; the guard still rolls back on a regression."""
    return _set_state(queue, Ramp.State.PAUSED, reason, allowed=(Ramp.State.RUNNING,))


def resume(queue: str, *, user: Any = None, origin: str = RouteChange.Origin.COMMAND) -> Ramp:
    """Carry on from the current step, held afresh; a rolled-back ramp restarts at its step, routed again."""
    with transaction.atomic():
        ramp = _get(queue, lock=True)
        if ramp.state == Ramp.State.DONE:
            raise RouteError(f"the ramp of {queue!r} is done")
        if ramp.state == Ramp.State.ROLLED_BACK:
            set_route(queue, ramp.steps[ramp.step], user=user, origin=origin, reason=f"ramp resumed after a rollback: step {ramp.step + 1}/{len(ramp.steps)}")
        ramp.state, ramp.step_started_at, ramp.reason = Ramp.State.RUNNING, timezone.now(), "resumed"
        ramp.save()
    return ramp


def advance(ramp: Ramp, reason: str) -> Ramp:
    """The next step (the guard calls this once a step is held); the last one marks the ramp done."""
    with transaction.atomic():
        if ramp.step + 1 >= len(ramp.steps):
            ramp.state, ramp.reason = Ramp.State.DONE, reason
        else:
            ramp.step += 1
            ramp.step_started_at = timezone.now()
            ramp.reason = reason
            share = ramp.steps[ramp.step]
            set_route(ramp.queue, share, origin=RouteChange.Origin.GUARD, reason=f"ramp step {ramp.step + 1}/{len(ramp.steps)} ({share:g}%): {reason}")
        ramp.save()
    return ramp


def stop_for_rollback(queue: str, reason: str) -> None:
    Ramp.objects.filter(queue=queue).exclude(state=Ramp.State.DONE).update(state=Ramp.State.ROLLED_BACK, reason=reason, updated_at=timezone.now())


def _set_state(queue: str, state: str, reason: str, allowed: tuple[str, ...]) -> Ramp:
    with transaction.atomic():
        ramp = _get(queue, lock=True)
        if ramp.state not in allowed:
            raise RouteError(f"the ramp of {queue!r} is {ramp.state}, not {' or '.join(allowed)}")
        ramp.state, ramp.reason = state, reason
        ramp.save()
    return ramp


def _get(queue: str, lock: bool = False) -> Ramp:
    rows = Ramp.objects.select_for_update() if lock else Ramp.objects
    try:
        return rows.get(queue=queue)
    except Ramp.DoesNotExist:
        raise RouteError(f"queue {queue!r} has no ramp (start one with: taskbridge ramp start {queue} 5,25,50,100)") from None
