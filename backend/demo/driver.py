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
    flip: dict[str, Any] | None = None
    unfinished: int = 0


class Driver:
    def __init__(self, term: Terminal, book: JobBook, workload: Any, queues: list[str], actor: Any,
                 pace: float, drain_timeout: float) -> None:
        self.term = term
        self.book = book
        self.workload = workload
        self.queues = queues
        self.actor = actor
        self.pace = pace  # seconds between two user actions
        self.drain_timeout = drain_timeout
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
        line = "      routes: " + f" {dot} ".join(parts)
        lines = [head, line]
        if record.flip:
            flip = record.flip
            lines.append(f"      flipped {flip['queue']}{arrow}celery at {flip['at_seconds']:.1f}s with "
                         f"{len(flip['in_flight'])} of its jobs in flight on rq")
        return lines

    # -- a stage ---------------------------------------------------------------

    def run(self, stage: stages.Stage, total: int) -> StageRecord:
        self.book.poll()
        self.book.stage = stage.number
        record = StageRecord(stage.number, stage.key, stage.title, now_iso())
        self.workload.set_tag(f"stage{stage.number}")
        changed = stages.apply(stage.routes, self.actor)
        record.routes = stages.current_routes(self.queues)
        self.term.write("")
        self.term.write(f"[{stage.number}/{total}] {stage.title}: {stage.why}"
                        + (f" (flags saved: {', '.join(changed)})" if changed else ""))
        block = self.term.block()
        started = time.monotonic()
        focus = stage.flip_queue
        burst = max(2, stage.actions // 3) if stage.flip else 0
        for index in range(stage.actions):
            if index < burst:
                # The rollback: a burst on the queue first, so its jobs queue up and run on RQ ...
                self.workload.act(focus=focus, index=index)
                record.actions += 1
                if index + 1 < burst:
                    continue
                # ... then, with them in flight, the flag goes back to Celery.
                in_flight = self._in_flight(stage, focus)
                wait_until = time.monotonic() + 3
                while len(in_flight) < stage.flip_when_in_flight and time.monotonic() < wait_until:
                    self._sleep_showing(0.05, block, stage, total, record, started, True)
                    in_flight = self._in_flight(stage, focus)
                stages.apply(stage.flip, self.actor)
                record.flip = {"queue": focus, "at_seconds": time.monotonic() - started, "at": now_iso(),
                               "in_flight": [job.job_id for job in in_flight]}
            else:
                self.workload.act(index=index)
                record.actions += 1
            self._sleep_showing(self.pace, block, stage, total, record, started, True)
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
        if record.flip:
            self._describe_flip(record)
        self.records.append(record)
        return record

    def _in_flight(self, stage: stages.Stage, queue: str | None) -> list:
        self.book.poll()
        return [job for job in self.book.pending(stage.number) if job.queue == queue and job.backend == "rq"]

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

    def _describe_flip(self, record: StageRecord) -> None:
        """Where the jobs in flight at the flip finished, and where the queue's later jobs went."""
        flip = record.flip
        ids = set(flip["in_flight"])
        jobs = [self.book.jobs[i] for i in flip["in_flight"] if i in self.book.jobs]
        finished_on: Counter[str] = Counter()
        for job in jobs:
            if job.outcome:
                finished_on["+".join(sorted(job.ran_on)) or "nowhere (cancelled before start)"] += 1
        flip["finished_on"] = dict(finished_on)
        flip["unfinished"] = sum(1 for job in jobs if not job.outcome)
        later = [j for j in self.book.of_stage(record.number)
                 if j.queue == flip["queue"] and j.job_id not in ids and j.enqueued_at > flip["at"]]
        flip["after_flip"] = dict(Counter(job.backend for job in later))
        arrow, dot = self.term.arrow(), self.term.dot()
        where = ", ".join(f"{n} on {b}" for b, n in sorted(finished_on.items())) or "none"
        still = f" {dot} still running: {flip['unfinished']}" if flip["unfinished"] else ""
        after = ", ".join(f"{n} on {b}" for b, n in sorted(flip["after_flip"].items())) or "none"
        # A process re-reads the flags at most every FLAG_CACHE_SECONDS: dispatches in that window may still go to RQ.
        from taskbridge import conf

        window = float(conf.option("FLAG_CACHE_SECONDS"))
        late = [j for j in later if j.backend == "rq"]
        if late:
            from taskbridge.compare.times import parse_iso

            flip_ts = parse_iso(flip["at"])
            slowest = max(parse_iso(j.enqueued_at) - flip_ts for j in late)
            flip["rq_after_flip_within_seconds"] = round(slowest, 3)
            if slowest <= window + 0.25:
                after += f" (those on rq within {slowest:.2f}s of the flip: processes re-read flags every {window:g}s)"
            else:
                after += f" (!) the last on rq {slowest:.2f}s after the flip, more than the {window:g}s flag cache"
        self.term.write(f"      rollback: {len(jobs)} {flip['queue']} jobs in flight on rq at the flip {arrow} "
                        f"finished {where}{still}; dispatched after the flip: {after}")
