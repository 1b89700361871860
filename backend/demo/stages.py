"""The cutover as a list of stages, and flipping routes the way an operator does in admin.

A route is changed through ``taskbridge.set_route``, as the cockpit, the
``route`` command and the guard do: it saves the queue's waffle Flag row and
writes the ``route.changed`` event and the audit row (attributed to the demo's
admin user).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # The rollback: flip these routes once this many jobs of `flip_queue` are in flight on RQ.
    flip: dict[str, Route] = field(default_factory=dict)
    flip_queue: str | None = None
    flip_when_in_flight: int = 0


def plan(queues: list[str], queue: str, percent: int, actions: int) -> list[Stage]:
    """The five stages of the demo: everything on Celery, a canary of ``queue``, all of it, a rollback, everything on RQ."""
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
        Stage(4, "rollback", f"rollback of {queue} to Celery, jobs in flight",
              f"{queue}'s flag flipped back to Everyone = No while its jobs are queued and running on RQ; "
              "they finish on RQ, new ones go to Celery",
              {}, actions, flip={queue: CELERY}, flip_queue=queue, flip_when_in_flight=3),
        Stage(5, "all-rq", "every queue on RQ",
              "every flag: Everyone = Yes; Celery workers idle and could now be stopped",
              everywhere(RQ), actions),
    ]


def set_route(queue: str, route: Route, actor: Any = None, reason: str = "") -> bool:
    """Change ``queue``'s route as an operator would; returns whether anything changed."""
    import taskbridge

    return taskbridge.set_route(queue, route.target, user=actor, reason=reason or "demo stage") is not None


def apply(routes: dict[str, Route], actor: Any = None) -> list[str]:
    return [queue for queue, route in routes.items() if set_route(queue, route, actor)]


def current_routes(queues: list[str]) -> dict[str, str]:
    """What each queue's flag says now, as the cockpit shows it (re-read at most every
    ``FLAG_CACHE_SECONDS``)."""
    from taskbridge import routing

    return {queue: routing.describe(queue) for queue in queues}
