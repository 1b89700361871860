"""Running the stages: flip the flags, dispatch the workload at a steady pace, show progress, wait.

A stage's jobs are the ones enqueued while it ran, its own dispatches and
whatever those chain (index uploads, captions, status polls) plus the
schedulers' ticks. A stage ends when all its jobs have finished, or after
a bounded wait; jobs still running then are followed by the final drain.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import stages
from .progress import Terminal
from .tracking import JobBook


def now_iso() -> str:
    from taskbridge.compare.times import format_iso

    return format_iso(time.time())


@dataclass
class StageRecord:
    number: int
    key: str
    title: str
    started_at: str
    ended_at: str = ""
    seconds: float = 0.0
    actions: int = 0
    jobs: int = 0
    backends: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)
    workers: str = ""
    #: The rollback: the backlog moved off the stopped RQ workers, and where those jobs ran.
    move: dict[str, Any] | None = None
    #: The guard's stage: when the first job failed on RQ and when the guard rolled the queue back.
    guard: dict[str, Any] | None = None
    unfinished: int = 0


class Driver:
    def __init__(self, term: Terminal, book: JobBook, workload: Any, queues: list[str], actor: Any,
                 pace: float, drain_timeout: float, formation: Any, guard_timeout: float = 60.0) -> None:
        self.term = term
        self.book = book
        self.workload = workload
        self.queues = queues
        self.actor = actor
        self.pace = pace  # seconds between two user actions
        self.drain_timeout = drain_timeout
        self.formation = formation
        self.guard_timeout = guard_timeout
        self.records: list[StageRecord] = []

    # -- display -------------------------------------------------------------

    def _lines(self, stage: stages.Stage, total: int, record: StageRecord, started: float, dispatching: bool) -> list[str]:
        jobs = self.book.of_stage(stage.number)
        counts = self.book.counts(jobs)
        done = sum(1 for job in jobs if job.outcome)
        dot, arrow = self.term.dot(), self.term.arrow()
        status = "dispatching" if dispatching else ("finishing" if done < len(jobs) else "done")
        failed = f" {dot} failed {counts['failed']}" if counts["failed"] else ""
        head = (f"[{stage.number}/{total}] {self.term.bar(done, max(len(jobs), 1))} {done:>3}/{len(jobs):<3} jobs "
                f"{dot} celery {counts['celery']:>3} {dot} rq {counts['rq']:>3}{failed}  "
                f"{time.monotonic() - started:4.1f}s {status}")
        per_queue: dict[str, Counter[str]] = {}
        for job in jobs:
            per_queue.setdefault(job.queue, Counter())[job.backend] += 1
        routes = stages.current_routes(self.queues)
        parts = []
        for queue in self.queues:
            seen = per_queue.get(queue)
            spread = f" ({'/'.join(f'{b} {n}' for b, n in sorted(seen.items()))})" if seen else ""
            parts.append(f"{queue}{arrow}{routes[queue]}{spread}")
        lines = [head, "      routes: " + f" {dot} ".join(parts)]
        if record.move:
            lines.append(f"      {record.move['queue']}{arrow}celery with backlog=move at {record.move['at_seconds']:.1f}s: "
                         f"moved {record.move['moved_total']} waiting job(s) off rq")
        if record.guard and record.guard.get("rolled_back_at"):
            lines.append(f"      the guard rolled {record.guard['queue']} back to celery")
        return lines

    # -- a stage ---------------------------------------------------------------

    def run(self, stage: stages.Stage, total: int) -> StageRecord:
        self.book.poll()
        self.book.stage = stage.number
        record = StageRecord(stage.number, stage.key, stage.title, now_iso())
        self.workload.set_tag(f"stage{stage.number}")
        record.workers = self.formation.apply(stage.workers, stage.queue)
        changed = stages.apply(stage.routes, self.actor)
        record.routes = stages.current_routes(self.queues)
        self.term.write("")
        self.term.write(f"[{stage.number}/{total}] {stage.title}: {stage.why}"
                        + (f" (flags saved: {', '.join(changed)})" if changed else ""))
        if record.workers:
            self.term.write(f"      workers: {record.workers}")
        block = self.term.block()
        started = time.monotonic()
        show = lambda seconds: self._sleep_showing(seconds, block, stage, total, record, started, True)  # noqa: E731
        following = stage.actions
        if stage.key == "rollback":
            following -= self._rollback(stage, record, show, started)
        elif stage.key == "guard":
            self._await_guard(stage, record, show)
            following = stage.actions // 3  # users carry on for a while, now on Celery again
        for index in range(max(following, 0)):
            self.workload.act(index=index)
            record.actions += 1
            show(self.pace)
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            self.book.poll()
            if not self.book.pending(stage.number):
                break
            block.update(self._lines(stage, total, record, started, False))
            time.sleep(0.1)
        self.book.poll()
        block.finish(self._lines(stage, total, record, started, False))
        jobs = self.book.of_stage(stage.number)
        counts = self.book.counts(jobs)
        record.ended_at = now_iso()
        record.seconds = round(time.monotonic() - started, 1)
        record.jobs = len(jobs)
        record.backends = {b: counts[b] for b in ("celery", "rq") if counts[b]}
        record.outcomes = {o: counts[o] for o in ("succeeded", "failed", "cancelled") if counts[o]}
        record.unfinished = len(self.book.pending(stage.number))
        if record.move:
            self._describe_move(record)
        if record.guard:
            self._describe_guard(record)
        self.records.append(record)
        return record

    def _waiting_on_rq(self, stage: stages.Stage) -> list:
        self.book.poll()
        return [job for job in self.book.pending(stage.number) if job.queue == stage.queue and job.backend == "rq"]

    def _rollback(self, stage: stages.Stage, record: StageRecord, show: Any, started: float) -> int:
        """RQ's workers are stopped: a burst on the queue waits on RQ, then the route goes back with the backlog.
        Returns the actions done."""
        from taskbridge import move

        burst = max(3, stage.actions // 2)
        for index in range(burst):
            self.workload.act(focus=stage.queue, index=index)
            record.actions += 1
            show(self.pace)
        waiting = self._waiting_on_rq(stage)
        wait_until = time.monotonic() + 3  # the burst's last dispatches reach the event log
        while len(waiting) < burst and time.monotonic() < wait_until:
            show(0.1)
            waiting = self._waiting_on_rq(stage)
        at = time.monotonic()
        stages.set_route(stage.queue, stages.CELERY, self.actor, backlog="move",
                         reason="demo: RQ's workers are down; back to the baseline with the jobs waiting there")
        moved = move.last_move(stage.queue) or {"moved": {}, "states": {}, "skipped": {}, "seconds": 0.0}
        record.move = {"queue": stage.queue, "at": now_iso(), "at_seconds": round(at - started, 1),
                       "waiting_on_rq": len(waiting), "moved": moved["moved"], "states": moved["states"],
                       "skipped": moved["skipped"], "move_seconds": round(moved["seconds"], 3),
                       "moved_total": sum(moved["moved"].values())}
        return burst

    def _await_guard(self, stage: stages.Stage, record: StageRecord, show: Any) -> None:
        """Dispatch the queue's actions until the guard rolls it back (bounded), as users keep working."""
        since = record.started_at
        record.guard = {"queue": stage.queue, "rolled_back_at": None}
        deadline = time.monotonic() + self.guard_timeout
        index = 0
        while time.monotonic() < deadline:
            change = self._guard_change(stage.queue, since)
            if change is not None:
                record.guard["rolled_back_at"] = change["timestamp"]
                record.guard["reason"] = change.get("reason", "")
                record.guard["forced"] = bool(change.get("forced"))
                break
            self.workload.act(focus=stage.queue, index=index)
            index += 1
            record.actions += 1
            show(self.pace)

    def _guard_change(self, queue: str | None, since: str) -> dict | None:
        self.book.poll()
        return next((event for event in self.book.route_changes
                     if event.get("origin") == "guard" and event.get("queue") == queue and event.get("timestamp", "") >= since), None)

    def _sleep_showing(self, seconds: float, block: Any, stage: stages.Stage, total: int, record: StageRecord,
                       started: float, dispatching: bool) -> None:
        end = time.monotonic() + seconds
        while True:
            self.book.poll()
            block.update(self._lines(stage, total, record, started, dispatching))
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def _describe_move(self, record: StageRecord) -> None:
        """Where the moved jobs ran: each on Celery, once."""
        move = record.move
        jobs = [job for job in self.book.of_stage(record.number) if job.moved_from == "rq"]
        move["jobs"] = len(jobs)
        move["ended_once_on_celery"] = sum(1 for job in jobs if job.endings == 1 and set(job.starts) == {"celery"})
        move["started_on_rq"] = sum(1 for job in jobs if job.starts.get("rq"))
        move["ended_twice"] = sum(1 for job in jobs if job.endings > 1)
        move["outcomes"] = dict(Counter(job.outcome or "unfinished" for job in jobs))
        arrow, dot = self.term.arrow(), self.term.dot()
        states = ", ".join(f"{n} {state}" for state, n in sorted(move["states"].items()))
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(move["outcomes"].items()))
        self.term.write(
            f"      rollback: RQ's workers stopped, {move['waiting_on_rq']} {move['queue']} jobs waiting on rq {arrow} "
            f"route back to celery with backlog=move: moved {move['moved_total']} rq{arrow}celery"
            + (f" ({states})" if states else "") + f" in {move['move_seconds']:.2f}s")
        self.term.write(
            f"      the moved jobs ran on celery exactly once: {move['ended_once_on_celery']} of {move['jobs']} "
            f"({outcomes}) {dot} started on rq {move['started_on_rq']} {dot} ended twice {move['ended_twice']}")

    def _describe_guard(self, record: StageRecord) -> None:
        """The guard's reaction time, from the event log: the queue's first failure on RQ to its route.changed."""
        from taskbridge.compare.times import parse_iso

        guard = record.guard
        jobs = [job for job in self.book.of_stage(record.number) if job.queue == guard["queue"]]
        failed = [job for job in jobs if job.outcome == "failed" and job.backend == "rq"]
        guard["failed_on_rq"] = len(failed)
        first = min((job.ended_at for job in failed), default=None)
        guard["first_failure_at"] = first
        if not guard["rolled_back_at"]:
            self.term.write(f"      (!) the guard did not roll {guard['queue']} back within {self.guard_timeout:.0f}s "
                            f"({len(failed)} of its jobs failed on rq)")
            return
        guard["seconds_to_rollback"] = round(parse_iso(guard["rolled_back_at"]) - parse_iso(first), 2) if first else None
        later = [job for job in jobs if job.enqueued_at > guard["rolled_back_at"]]
        guard["after_rollback"] = dict(Counter(job.backend for job in later))
        arrow = self.term.arrow()
        after = ", ".join(f"{n} on {b}" for b, n in sorted(guard["after_rollback"].items())) or "none"
        took = f"{guard['seconds_to_rollback']:.1f}s after the first failure" if first else "(no failure seen)"
        self.term.write(f"      guard: rolled {guard['queue']} back to celery {took} "
                        f"({len(failed)} of its jobs failed on rq); dispatched after: {after}")
        self.term.write(f"      route.changed origin=guard{' forced' if guard['forced'] else ''}: {guard['reason']}")
