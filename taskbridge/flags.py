"""The waffle flags taskbridge routes by: created after migrate, changed through
:func:`set_route` (or waffle's own admin form), every change audited.

A flag's own fields are the route: Everyone Yes = the candidate, No = the
baseline, Unknown with a Percent = that share of dispatches to the candidate
(bucketed by :func:`taskbridge.routing.bucket`). Whoever saves the flag —
:func:`set_route` from the cockpit, a command, the guard or a test, or waffle's
form in admin — the same signal handlers write one :class:`~.models.RouteChange`
and one ``route.changed`` event, invalidate this process's flag cache and, once
committed, announce the change to every process (:func:`taskbridge.routing.announce_change`).

Every change made by a person or the guard passes the interlock
(:mod:`taskbridge.interlock`) unless forced with a reason; only ``origin="code"``
(tests, demos, a project's own scripts, which set up their workers themselves) is
not checked.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from waffle import get_waffle_flag_model

from . import conf, events, interlock, move, registry, routing
from .errors import InterlockRefused, RouteError
from .models import RouteChange

Flag = get_waffle_flag_model()

_change = threading.local()


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who changes a route, from where and why: what the audit row records."""

    user: Any = None
    origin: str = RouteChange.Origin.ADMIN
    reason: str = ""
    #: The interlock refused the change and it was made anyway.
    forced: bool = False


#: Origins whose changes the interlock checks: a person's or the guard's, not code's.
CHECKED_ORIGINS = frozenset({RouteChange.Origin.ADMIN, RouteChange.Origin.COCKPIT, RouteChange.Origin.COMMAND, RouteChange.Origin.GUARD})


def set_actor(user: Any) -> None:
    """The user of the current request (middleware), for changes made through waffle's form."""
    _change.user = user


def _context() -> ChangeContext:
    current = getattr(_change, "context", None)
    if current is not None:
        return current
    return ChangeContext(user=getattr(_change, "user", None))


@contextmanager
def changing(context: ChangeContext) -> Iterator[None]:
    """Flag saves inside the block are audited with ``context`` (used by set_route and by
    admin's flag form, which saves the flag itself)."""
    previous = getattr(_change, "context", None)
    _change.context = context
    try:
        yield
    finally:
        _change.context = previous


def parse_share(target: str | float | int | None) -> float | None:
    """The candidate's share in percent for a route target: ``"baseline"`` / ``"candidate"``,
    a backend alias, ``"25%"`` or a number from 0 to 100; ``None`` (or ``"default"``) for a
    flag that decides nothing (the dispatch goes to the baseline)."""
    if target is None or target == "default":
        return None
    if isinstance(target, str):
        text = target.strip()
        roles = {"baseline": 0.0, conf.baseline(): 0.0, "candidate": 100.0, conf.candidate(): 100.0}
        if text in roles:
            return roles[text]
        try:
            share = float(text.removesuffix("%"))
        except ValueError:
            raise RouteError(
                f"route {target!r} is not 'baseline', 'candidate', {conf.baseline()!r}, {conf.candidate()!r} or a percentage"
            ) from None
    elif isinstance(target, (int, float, Decimal)) and not isinstance(target, bool):
        share = float(target)
    else:
        raise RouteError(f"route {target!r} is not a role, a backend or a percentage")
    if not 0 <= share <= 100:  # also refuses NaN
        raise RouteError(f"a route's percentage must be between 0 and 100, got {share:g}")
    return share


def set_route(
    queue: str | None,
    target: str | float | int | None,
    *,
    task: str | None = None,
    user: Any = None,
    origin: str = RouteChange.Origin.CODE,
    reason: str = "",
    backlog: str | None = None,
    force: bool = False,
) -> RouteChange | None:
    """Route a queue's (or, with ``task``, one task's) new dispatches: the one way every
    part of taskbridge changes a route. Saves the waffle flag, records who, from where
    and why, and invalidates this process's flag cache. Returns the audit row, or
    ``None`` when the route was already that.

    ``backlog`` (``"keep"`` / ``"move"``; default: the queue's ``backlog`` policy) says
    whether the jobs that have not started follow the new route (:func:`taskbridge.move.move`,
    once the change is committed).

    For the :data:`CHECKED_ORIGINS`, raises :class:`~.errors.InterlockRefused` when a
    backend that would get dispatches has no live worker on the queue, unless ``force``
    (which needs a ``reason``; the audit row then says it was forced)."""
    if task is None:
        conf.queue(queue)
    elif queue is None:
        declared = registry.get(task)
        queue = declared.queue if declared is not None else None
    share = parse_share(target)
    moving = queue is not None and move.policy(queue, backlog) == move.MOVE
    name = conf.task_flag_name(task) if task else conf.queue_flag_name(queue)
    forced = check_interlock(name, queue_of(queue, task), share, origin, reason, force)
    with transaction.atomic(), changing(ChangeContext(user, origin, reason, forced)):
        flag, _ = Flag.objects.select_for_update().get_or_create(name=name, defaults={"note": _note(queue, task)})
        if share is None:
            flag.everyone, flag.percent = None, None
        elif share in (0.0, 100.0):
            flag.everyone, flag.percent = share == 100.0, None
        else:
            flag.everyone, flag.percent = None, Decimal(f"{share:.1f}")
        flag.save()
        change = getattr(flag, "_taskbridge_change", None)
        if moving:
            transaction.on_commit(lambda: move.move(queue, task=task))
        return change


def queue_of(queue: str | None, task: str | None) -> str | None:
    """The queue a route applies to: ``queue``, or the declared ``task``'s own queue."""
    declared = registry.get(task) if task else None
    return declared.queue if declared is not None else queue


def check_interlock(flag_name: str, queue: str | None, share: float | None, origin: str, reason: str, force: bool) -> bool:
    """Pass or refuse a change of ``flag_name`` to ``share`` (see :func:`set_route`); ``True``
    when it goes ahead only because it is forced. A change to the route the flag already
    has is never refused."""
    if origin not in CHECKED_ORIGINS or queue is None:
        return False
    current = Flag.objects.filter(name=flag_name).values_list("name", "everyone", "percent").first()
    if current is not None and routing.FlagState(*current).share == share:
        return False
    problems = interlock.findings(queue, share)
    if not problems:
        return False
    if not force:
        raise InterlockRefused(problems)
    if not reason.strip():
        raise RouteError("a forced route change needs a reason (" + "; ".join(problems) + ")")
    return True


def _note(queue: str | None, task: str | None) -> str:
    what = f"task {task!r}" if task else f"queue {queue!r}"
    return (
        f"taskbridge route of {what}: Everyone Yes = candidate ({conf.candidate()}), No = baseline "
        f"({conf.baseline()}), Unknown + Percent = that share to the candidate. Other fields do not apply."
    )


def ensure_queue_flags(**_: Any) -> None:
    """Create the flag of every configured queue that has none, routed to the baseline."""
    with changing(ChangeContext(origin=RouteChange.Origin.CODE, reason="queue flag created after migrate")):
        for name in conf.queues():
            Flag.objects.get_or_create(name=conf.queue_flag_name(name), defaults={"everyone": False, "note": _note(name, None)})


def target_of(flag_name: str) -> dict[str, str] | None:
    """``{"queue": …}`` or ``{"task": …}`` for a taskbridge flag, ``None`` for any other flag."""
    if flag_name.startswith(conf.option("QUEUE_FLAG_PREFIX")):
        return {"queue": flag_name[len(conf.option("QUEUE_FLAG_PREFIX")) :]}
    if flag_name.startswith(conf.option("TASK_FLAG_PREFIX")):
        return {"task": flag_name[len(conf.option("TASK_FLAG_PREFIX")) :]}
    return None


def _describe(flag: Any) -> str:
    if flag is None:
        return "default"
    return routing.FlagState(flag.name, flag.everyone, flag.percent).describe()


@receiver(pre_save, sender=Flag)
def _remember_previous(sender: Any, instance: Any, **_: Any) -> None:
    if target_of(instance.name) is not None:
        instance._taskbridge_previous = _describe(sender.objects.filter(pk=instance.pk).first() if instance.pk else None)


def _record(flag_name: str, before: str, after: str) -> RouteChange | None:
    target = target_of(flag_name)
    if target is None or before == after:
        return None
    context = _context()
    user = context.user if context.user is not None and getattr(context.user, "is_authenticated", False) else None
    change = RouteChange.objects.create(
        flag=flag_name, from_route=before, to_route=after, changed_by=user, origin=context.origin,
        reason=context.reason, forced=context.forced, **target,
    )
    routing.flags.invalidate(pending=routing.outermost_transaction())
    transaction.on_commit(routing.announce_change)
    events.emit(
        events.ROUTE_CHANGED, flag=flag_name, **{"from": before, "to": after},
        user=user.get_username() if user else None, origin=context.origin, reason=context.reason or None,
        forced=context.forced or None, **target,
    )
    return change


@receiver(post_save, sender=Flag)
def _flag_saved(sender: Any, instance: Any, **_: Any) -> None:
    if target_of(instance.name) is not None:
        instance._taskbridge_change = _record(instance.name, getattr(instance, "_taskbridge_previous", "default"), _describe(instance))


@receiver(post_delete, sender=Flag)
def _flag_deleted(sender: Any, instance: Any, **_: Any) -> None:
    _record(instance.name, _describe(instance), "default")
