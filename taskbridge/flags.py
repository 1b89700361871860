"""The waffle flags taskbridge routes by: created after migrate, audited when changed."""

from __future__ import annotations

import threading
from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from waffle import get_waffle_flag_model

from . import conf, events, routing

Flag = get_waffle_flag_model()

# The user making the current request, so a flag change can be attributed.
_actor = threading.local()


def set_actor(user: Any) -> None:
    _actor.user = user


def _current_actor() -> Any:
    user = getattr(_actor, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def ensure_queue_flags(**_: Any) -> None:
    """Create the flag of every configured queue that has none, routed to the default backend."""
    default_is_rq = conf.default_backend() == "rq"
    for name in conf.queues():
        Flag.objects.get_or_create(
            name=conf.queue_flag_name(name),
            defaults={
                "everyone": default_is_rq,
                "note": f"taskbridge route of queue {name!r}: Everyone Yes = RQ, No = Celery, "
                "Unknown + Percent = that share to RQ.",
            },
        )


def _target(name: str) -> dict[str, str] | None:
    if name.startswith(conf.option("QUEUE_FLAG_PREFIX")):
        return {"queue": name[len(conf.option("QUEUE_FLAG_PREFIX")) :]}
    if name.startswith(conf.option("TASK_FLAG_PREFIX")):
        return {"task": name[len(conf.option("TASK_FLAG_PREFIX")) :]}
    return None


def _describe(flag: Any) -> str:
    if flag is None:
        return "default"
    return routing.FlagState(flag.name, flag.everyone, flag.percent).describe()


@receiver(pre_save, sender=Flag)
def _remember_previous(sender: Any, instance: Any, **_: Any) -> None:
    if _target(instance.name) is not None:
        instance._taskbridge_previous = _describe(sender.objects.filter(pk=instance.pk).first() if instance.pk else None)


def _record(flag_name: str, before: str, after: str) -> None:
    from .models import RouteChange

    target = _target(flag_name)
    if target is None or before == after:
        return
    actor = _current_actor()
    RouteChange.objects.create(flag=flag_name, from_route=before, to_route=after, changed_by=actor, **target)
    routing.flags.invalidate()
    events.emit(
        events.ROUTE_CHANGED, flag=flag_name, **{"from": before, "to": after},
        user=actor.get_username() if actor else None, **target,
    )


@receiver(post_save, sender=Flag)
def _flag_saved(sender: Any, instance: Any, **_: Any) -> None:
    if _target(instance.name) is not None:
        _record(instance.name, getattr(instance, "_taskbridge_previous", "default"), _describe(instance))


@receiver(post_delete, sender=Flag)
def _flag_deleted(sender: Any, instance: Any, **_: Any) -> None:
    _record(instance.name, _describe(instance), "default")
