"""The cutover as a list of stages, and flipping routes the way an operator does in admin.

A route is changed through ``taskbridge.set_route``, as the cockpit, the
``route`` command and the guard do: it saves the queue's waffle Flag row and
writes the ``route.changed`` event and the audit row (attributed to the demo's
admin user).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    """A flag setting: ``everyone`` True (RQ) / False (Celery), or ``percent`` to RQ."""

    everyone: bool | None = None
    percent: int | None = None

    def describe(self) -> str:
        if self.everyone is True:
            return "rq"
        if self.everyone is False:
            return "celery"
        return f"rq {self.percent}%"

    @property
    def target(self) -> str | int:
        """What ``taskbridge.set_route`` takes: a role, or the candidate's percentage."""
        if self.everyone is not None:
            return "candidate" if self.everyone else "baseline"
        return self.percent


CELERY = Route(everyone=False)
RQ = Route(everyone=True)


def canary(percent: int) -> Route:
    return Route(everyone=None, percent=percent)


@dataclass(frozen=True)
class Stage:
    number: int
    key: str
    title: str
    why: str
    routes: dict[str, Route]
    actions: int
    #: What happens to RQ's workers as the stage begins (:class:`.workers.Formation`): ``"stop"`` (stopped on
    #: purpose), ``"broken"`` (one worker on the wrong database takes the stage's queue), ``"restart"`` (the
    #: broken one stopped, the healthy ones started again); ``None``: as they are.
    workers: str | None = None
    #: The queue the stage is about (the rollback's backlog, the guard's failing queue).
    queue: str | None = None


def plan(queues: list[str], queue: str, percent: int, actions: int) -> list[Stage]:
    """The six stages of the demo: everything on Celery, a canary of ``queue``, all of it, a rollback while
    RQ is down, a broken RQ worker the guard rolls back, everything on RQ."""
    everywhere = lambda route: {name: route for name in queues}  # noqa: E731
    return [
        Stage(1, "celery", "all on Celery",
              "the starting point: both worker sets run, every flag says Celery",
              everywhere(CELERY), actions),
        Stage(2, "canary", f"canary: {percent}% of {queue} on RQ",
              f"{queue}'s flag: Everyone = Unknown, Percent = {percent}; a stable hash picks each job's backend",
              {queue: canary(percent)}, actions),
        Stage(3, "queue-on-rq", f"{queue} fully on RQ",
              f"{queue}'s flag: Everyone = Yes",
              {queue: RQ}, actions),
        Stage(4, "rollback", f"RQ breaks: rollback of {queue} with its backlog moved",
              f"RQ's workers stop; {queue}'s jobs wait on RQ with no one to run them; its route goes back to "
              "the baseline with backlog=move, so they run on Celery",
              {}, actions, workers="stop", queue=queue),
        Stage(5, "guard", f"a broken RQ worker on {queue}: the guard rolls it back",
              f"an RQ worker started with the wrong DATABASE_URL takes {queue} (the healthy ones still stopped) "
              f"and fails its jobs; {queue} goes to RQ; the guard (taskbridge guard) rolls it back by itself",
              {queue: RQ}, actions, workers="broken", queue=queue),
        Stage(6, "all-rq", "every queue on RQ",
              "the broken worker stopped, the healthy RQ workers started again; every flag: Everyone = Yes; "
              "Celery workers idle and could now be stopped",
              everywhere(RQ), max(actions, 30), workers="restart"),
    ]


def set_route(queue: str, route: Route, actor: Any = None, reason: str = "", backlog: str | None = None) -> bool:
    """Change ``queue``'s route as an operator would (``backlog="move"``: its waiting jobs follow);
    returns whether anything changed."""
    import taskbridge

    return taskbridge.set_route(queue, route.target, user=actor, reason=reason or "demo stage", backlog=backlog) is not None


def apply(routes: dict[str, Route], actor: Any = None) -> list[str]:
    return [queue for queue, route in routes.items() if set_route(queue, route, actor)]


def current_routes(queues: list[str]) -> dict[str, str]:
    """What each queue's flag says now, as the cockpit shows it (re-read at most every
    ``FLAG_CACHE_SECONDS``)."""
    from taskbridge import routing

    return {queue: routing.describe(queue) for queue in queues}
