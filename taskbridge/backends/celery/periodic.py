"""The Celery beat side: beat's schedule from ``TASKBRIDGE["SCHEDULE"]`` and the tick task it fires.

:func:`.config.settings_for_celery` puts :func:`beat_schedule` into
``beat_schedule``, so ``celery -A backend beat`` needs no schedule of its own.
Each entry fires :data:`CELERY_TICK_TASK` with the entry as
its argument, on :class:`PeriodSchedule`: due once per period, at the period's
start (the same period arithmetic the tick and rq-scheduler use, rather than
Celery's own ``schedule``/``crontab``, which count from the last run and drift).
Beat stamps the moment it publishes into a message header; the tick takes the
period from it, so a tick that waits in the queue still belongs to its period.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from celery import shared_task, signals
from celery.schedules import BaseSchedule, schedstate

from ...periodic import Entry, Timing, entries, resolve, tick
from .worker import alias

#: The Celery task beat fires.
CELERY_TICK_TASK = "taskbridge.periodic.celery_tick"
FIRED_AT_HEADER = "taskbridge_fired_at"


class PeriodSchedule(BaseSchedule):
    """Due when the current period is later than the period of the last run."""

    def __init__(self, every: int | None = None, cron: str | None = None, nowfun: Any = None, app: Any = None) -> None:
        self.timing = Timing(every=every, cron=cron)
        super().__init__(nowfun=nowfun, app=app)

    def _now(self) -> float:
        return self.maybe_make_aware(self.now()).timestamp()

    def remaining_estimate(self, last_run_at: dt.datetime) -> dt.timedelta:
        now = self._now()
        last = self.maybe_make_aware(last_run_at).timestamp()
        if self.timing.period_start(now) > self.timing.period_start(last):
            return dt.timedelta(0)
        return dt.timedelta(seconds=self.timing.next_start(now) - now)

    def is_due(self, last_run_at: dt.datetime) -> schedstate:
        now = self._now()
        last = self.maybe_make_aware(last_run_at).timestamp()
        due = self.timing.period_start(now) > self.timing.period_start(last)
        return schedstate(is_due=due, next=max(self.timing.next_start(now) - now, 0.001))

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.timing.every, self.timing.cron, self.nowfun)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, PeriodSchedule):
            return other.timing == self.timing and other.nowfun == self.nowfun
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.timing)

    def __repr__(self) -> str:
        return f"<taskbridge period: {self.timing.describe()}>"


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: one tick entry per schedule entry, named like it."""
    return {
        name: {
            "task": CELERY_TICK_TASK,
            "schedule": PeriodSchedule(entry.timing.every, entry.timing.cron),
            "args": [entry.as_message()],
        }
        for name, entry in entries().items()
    }


def tick_queue(args: Any) -> str | None:
    """The queue a tick is published to: the queue of the task its entry runs."""
    try:
        return resolve(Entry.from_message(args[0])).queue
    except Exception:  # routing must not fail a publish; the tick reports the problem when it runs
        return None


def _stamp_fired_at(sender: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    if sender == CELERY_TICK_TASK and headers is not None:
        headers.setdefault(FIRED_AT_HEADER, time.time())


@signals.beat_init.connect
def _stamp_ticks_in_beat(**_: Any) -> None:
    """Only beat publishes ticks, so only beat listens for them: every other process's
    publishes (each dispatch) don't pay for a receiver."""
    signals.before_task_publish.connect(_stamp_fired_at, weak=False)


@shared_task(name=CELERY_TICK_TASK, bind=True, ignore_result=True, max_retries=0)
def celery_tick(self: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """Beat fired ``entry``: run its period once (see :func:`taskbridge.periodic.tick`)."""
    request = self.request
    fired_at = getattr(request, FIRED_AT_HEADER, None) or (request.headers or {}).get(FIRED_AT_HEADER)
    return tick(Entry.from_message(entry), alias(), fired_at).as_dict()
