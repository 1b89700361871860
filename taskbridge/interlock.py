"""The interlock: a route may send new dispatches only to a backend that has a live
worker consuming the queue, otherwise they would pile up unseen.

Checked by :func:`taskbridge.flags.set_route` for every origin that is a person or the
guard (cockpit, waffle's form, the ``route`` command, the guard); a forced change
skips it and is audited as forced, with its reason. Worker presence is asked of
each backend as the change is made (Celery's is a broadcast of up to a second),
never from a cache, so a refusal or a pass reflects the workers of that moment.
"""

from __future__ import annotations

from collections.abc import Callable

from . import conf
from .backends import get_backend
from .backends.base import WorkerInfo


def receiving(share: float | None) -> list[str]:
    """The backends that get new dispatches under a candidate ``share`` (``None``: the flag
    decides nothing, so the baseline gets them)."""
    if share is None or share <= 0:
        return [conf.baseline()]
    if share >= 100:
        return [conf.candidate()]
    return list(dict.fromkeys([conf.baseline(), conf.candidate()]))


def findings(
    queue: str,
    share: float | None,
    workers_of: Callable[[str], dict[str, list[WorkerInfo]]] | None = None,
) -> list[str]:
    """Why routing ``share`` of ``queue`` would strand dispatches: one line per receiving
    backend that runs jobs in workers but has none consuming the queue; empty when safe.
    ``workers_of(alias)`` defaults to asking the backend itself."""
    problems = []
    for alias in receiving(share):
        backend = get_backend(alias)
        if not backend.runs_in_workers:
            continue
        live = (workers_of or (lambda name: get_backend(name).workers()))(alias).get(queue, [])
        if not live:
            problems.append(f"no live {alias} worker consumes queue {queue!r}")
    return problems
