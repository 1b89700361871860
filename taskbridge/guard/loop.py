"""The guard's tick: hold the lease, read the new events, judge every queue, roll back
a regressing canary, advance ramps, and publish what it saw for the cockpit and /metrics."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

import orjson
import redis
from django.db.models import Max

from .. import conf, routing
from ..compare.times import format_iso
from ..flags import set_route
from ..models import Ramp, RouteChange
from ..redis import connection
from . import ramp as ramps
from .config import GuardConfig
from .judge import FINISHED, QueueJudgement, judge_queue
from .lease import Lease
from .window import EventWindow

STATE_KEY = "taskbridge:guard:state"


class Guard:
    """One guard process. :meth:`tick` is one look; :meth:`run` looks every ``interval`` seconds."""

    def __init__(self, config: GuardConfig | None = None, conn: redis.Redis | None = None, say: Callable[[str], None] = print) -> None:
        self.config = config or GuardConfig.from_settings()
        self.conn = conn or connection()
        self.lease = Lease(self.conn, self.config.lease_seconds)
        self.window = EventWindow(self.conn, self.config.baseline_window)
        self.say = say
        self.active = False

    def tick(self) -> dict[str, Any]:
        """One look at every queue; returns the state it published (``{"active": False}`` on standby)."""
        was_active, self.active = self.active, self.lease.hold()
        if self.active != was_active:
            self.say(f"guard {self.lease.token}: {'active' if self.active else 'standby (active: ' + str(self.lease.holder()) + ')'}")
        if not self.active:
            return {"active": False, "holder": self.lease.holder()}
        now = time.time()
        pairs = self.window.refresh(now)
        routing.flags.invalidate()
        changed = _last_changes()
        queues = {}
        for queue in conf.queues():
            share = _share(queue)
            judgement = judge_queue(queue, pairs, now, self.config, changed.get(queue, -math.inf))
            action = None
            if judgement.regression and share > 0:
                action = self._roll_back(queue, share, judgement)
                share = 0.0
            else:
                action = self._ramp(queue, share, judgement, pairs)
            queues[queue] = {"route": routing.describe(queue), "share": share, "action": action, **judgement.as_dict()}
        state = {"active": True, "holder": self.lease.token, "at": now, "events_in_window": len(pairs), "queues": queues}
        self.conn.set(STATE_KEY, orjson.dumps(state), px=int(max(self.config.lease_seconds, 3 * self.config.interval) * 1000))
        return state

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except redis.RedisError as error:
                    self.active = False
                    self.say(f"guard: Redis unreachable ({error}); retrying")
                stop.wait(max(0.0, self.config.interval - (time.monotonic() - started)))
        finally:
            if self.active:
                self.lease.release()

    def _roll_back(self, queue: str, share: float, judgement: QueueJudgement) -> str:
        candidate = conf.candidate()
        figures = judgement.figures.get(candidate, {})
        reason = (
            f"guard: {candidate} regressed on {queue} at {share:g}%: " + "; ".join(judgement.reasons)
            + f" [{candidate}: {figures.get('succeeded', 0)} ok, {figures.get('failed', 0)} failed, "
            f"p95 run {_ms(figures.get('run_p95_ms'))}; since {format_iso(judgement.candidate_since)}]"
        )
        # Forced past the interlock (audited as forced): a candidate that fails jobs is worse than a
        # baseline whose workers are missing, where the jobs wait safely until they come.
        set_route(queue, "baseline", origin=RouteChange.Origin.GUARD, reason=reason, force=True)
        ramps.stop_for_rollback(queue, reason)
        self.say(f"ROLLED BACK {queue}: {reason}")
        return "rolled-back"

    def _ramp(self, queue: str, share: float, judgement: QueueJudgement, pairs: list[tuple[float, dict[str, Any]]]) -> str | None:
        ramp = Ramp.objects.filter(queue=queue, state=Ramp.State.RUNNING).first()
        if ramp is None:
            return None
        if abs(share - ramp.steps[ramp.step]) > 0.05:
            ramps.pause(queue, f"paused: the route was changed outside the ramp (now {share:g}%, step {ramp.steps[ramp.step]:g}%)")
            return "ramp-paused"
        began = ramp.step_started_at.timestamp()
        candidate = conf.candidate()
        finished = sum(1 for at, event in pairs if at >= began and event.get("queue") == queue and event.get("backend") == candidate and event.get("event") in FINISHED)
        if judgement.regression or time.time() - began < ramp.hold_seconds or finished < ramp.hold_jobs:
            return None
        ramps.advance(ramp, f"held {time.time() - began:.0f}s with {finished} jobs finished on {candidate}, no regression ({judgement.status})")
        self.say(f"ramp {queue}: {ramp}")
        return "ramp-done" if ramp.state == Ramp.State.DONE else "ramp-advanced"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g} ms"


def _share(queue: str) -> float:
    flag = routing.flags.get(conf.queue_flag_name(queue))
    share = flag.share if flag else None
    return share or 0.0


def _last_changes() -> dict[str, float]:
    rows = RouteChange.objects.filter(task="").values("queue").annotate(last=Max("changed_at"))
    return {row["queue"]: row["last"].timestamp() for row in rows}


def published(conn: redis.Redis | None = None) -> dict[str, Any] | None:
    """The state the active guard published last, ``None`` when no guard ran in the last few intervals."""
    raw = (conn or connection()).get(STATE_KEY)
    return orjson.loads(raw) if raw else None

