"""The inner half of the demo: everything that needs Django with the demo's Redis and database.

Started by :mod:`.supervise` as ``manage.py taskbridge demo --_inner`` with the
demo's environment. It waits for the workers and the web server, drives the
stages, waits for in-flight jobs, runs ``compare`` over the collected event
log, prints the verdicts and the summary, writes the report, and with
``--serve`` keeps a trickle of work going so flag flips in admin can be seen.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import urllib.request
from pathlib import Path

from django.conf import settings

from . import report, stages
from .driver import Driver, now_iso
from .progress import Terminal
from .site import LocalSite
from .tracking import JobBook
from .workers import Formation

ADMIN_USER = "demo"


class Config:
    def __init__(self, options: dict) -> None:
        short = options["short"]
        self.short = short
        self.actions = options["actions"] if options["actions"] is not None else (10 if short else 40)
        self.pace = 0.2
        self.drain_timeout = 30.0 if short else 45.0
        self.final_drain = 60.0
        self.queue = options["queue"]
        self.percent = options["percent"]
        self.serve = options["serve"]
        self.out = Path(options["out"]).resolve()
        self.web = os.environ.get("TASKBRIDGE_DEMO_WEB", "http://127.0.0.1:8000")
        self.password = os.environ.get("TASKBRIDGE_DEMO_ADMIN_PASSWORD") or "demo"
        names = os.environ.get("TASKBRIDGE_DEMO_WORKERS", "").split(",")
        self.celery_name, self.rq_names = names[0], [name for name in names[1:] if name]
        self.control = Path(os.environ.get("TASKBRIDGE_DEMO_CONTROL") or self.out / "control")
        self.temp = Path(os.environ.get("TASKBRIDGE_DEMO_TEMP") or self.out)
        self.started_wall = float(os.environ.get("TASKBRIDGE_DEMO_STARTED") or time.time())


def ensure_admin(password: str):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user, created = User.objects.get_or_create(username=ADMIN_USER, defaults={"is_staff": True, "is_superuser": True})
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    return user


def wait_for_workers(config: Config, timeout: float = 90.0) -> float:
    """Until every backend has a live worker on the queues and the web server answers;
    returns the seconds waited."""
    from taskbridge import conf
    from taskbridge.testing import wait_for_workers as wait_for_backend

    started = time.monotonic()
    deadline = started + timeout
    try:
        for backend in conf.backends():
            for queue in conf.queues():
                wait_for_backend(backend, queue, timeout=max(deadline - time.monotonic(), 0.1))
    except TimeoutError as exc:
        raise RuntimeError(f"not ready after {timeout:.0f}s: {exc} (see the logs in {config.out / 'logs'})") from None
    while True:
        try:
            with urllib.request.urlopen(config.web + "/admin/login/", timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout:.0f}s: web server (see the logs in {config.out / 'logs'})")
        time.sleep(0.2)


def drain(book: JobBook, term: Terminal, timeout: float, quiet: bool = False) -> int:
    """Wait (bounded) until no job is pending; returns how many still are."""
    deadline = time.monotonic() + timeout
    block = term.block()
    if quiet:
        while book.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
            book.poll()
        return len(book.pending())
    while True:
        book.poll()
        pending = book.pending()
        if not pending or time.monotonic() > deadline:
            break
        block.update([f"      waiting for {len(pending)} job(s) still in flight …"])
        time.sleep(0.2)
    block.finish(["      all jobs finished" if not pending else f"      {len(pending)} job(s) still unfinished after {timeout:.0f}s"])
    return len(pending)


def main(options: dict) -> int:
    term = Terminal()
    config = Config(options)
    site = LocalSite(int(os.environ.get("TASKBRIDGE_DEMO_SITE_PORT", "0"))).start()
    try:
        return _run(config, term, site)
    except KeyboardInterrupt:
        return 130
    except Exception:
        term.write("taskbridge demo: the orchestrator failed:")
        term.write(traceback.format_exc())
        return 1
    finally:
        site.stop()


def _run(config: Config, term: Terminal, site: LocalSite) -> int:
    from .workload import Workload

    queues = list(settings.TASKBRIDGE["QUEUES"])
    user = ensure_admin(config.password)
    waited = wait_for_workers(config)
    term.write(f"  ready      workers, schedulers and web server up after {time.time() - config.started_wall:.1f}s "
               f"(waited {waited:.1f}s); local site for ingestion at {site.base_url}")
    book = JobBook(Path(os.environ["TASKBRIDGE_EVENT_LOG"]))
    workload = Workload(config.web, ADMIN_USER, config.password, site, short=config.short)
    workload.prepare()
    setup_started = time.monotonic()
    workload.seed()
    book.poll()
    if drain(book, term, config.drain_timeout, quiet=True):
        raise RuntimeError("the set-up jobs (a first source for each notebook) did not finish; see the logs")
    term.write(f"  setup      {len(workload.notebooks)} notebooks with a first source each, through the API "
               f"({len(book.jobs)} jobs, {time.monotonic() - setup_started:.1f}s)")
    formation = Formation(config.control, config.rq_names, config.temp)
    driver = Driver(term, book, workload, queues, user, config.pace, config.drain_timeout, formation)
    plan = stages.plan(queues, config.queue, config.percent, config.actions)
    run_started = now_iso()
    for stage in plan:
        driver.run(stage, len(plan))
    term.write("")
    unfinished = drain(book, term, config.final_drain)
    run_ended = now_iso()
    validations = workload.check_validations()
    facts = {"redis": os.environ.get("TASKBRIDGE_DEMO_REDIS", ""), "short": config.short, "actions_per_stage": config.actions,
             "canary_queue": config.queue, "canary_percent": config.percent}
    result = report.build(config.out, Path(os.environ["TASKBRIDGE_EVENT_LOG"]), driver.records, run_started, run_ended,
                          queues, {**workload.summary(), "validation_results": validations}, facts)
    report.print_terminal(term, result)
    problems = []
    if workload.errors:
        problems.append(f"{len(workload.errors)} API call(s) failed, first: {workload.errors[0]}")
    if validations["unexpected"] or validations["no_result"]:
        problems.append(f"validation results read back through their handles: {validations}")
    if unfinished:
        problems.append(f"{unfinished} job(s) still unfinished after the final wait")
    for record in driver.records:
        if record.move and not (record.move["moved_total"] and record.move["ended_once_on_celery"] == record.move["moved_total"]):
            problems.append(f"stage {record.number}: the moved backlog did not run once each on celery: {record.move}")
        if record.guard and not record.guard.get("rolled_back_at"):
            problems.append(f"stage {record.number}: the guard did not roll {record.guard['queue']} back")
    for problem in problems:
        term.write(f"problem: {problem}")
    ok = result["summary"]["stranded"] == 0 and result["summary"]["duplicated"] == 0 and not problems
    result["problems"] = problems
    result["ok"] = ok
    result["elapsed_seconds"] = round(time.time() - config.started_wall, 1)
    (config.out / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    term.write(report.summary_line(result, term.dot()))
    if config.serve:
        serve(config, term, book, workload, queues)
    return 0 if ok else 1


def serve(config: Config, term: Terminal, book: JobBook, workload, queues: list[str]) -> None:
    """Keep a trickle of work going and show where it is routed, until the supervisor stops us."""
    term.write("")
    term.write(f"serving: {config.web}/admin/  login {ADMIN_USER} / {config.password}")
    term.write(f"  flip the flags under Waffle {term.arrow()} Flags (taskbridge.queue.<queue>); the next jobs follow them.")
    term.write(f"  cutover page: {config.web}/admin/taskbridge/routechange/cutover/   "
               f"django-rq: {config.web}/django-rq/   Ctrl-C stops every process.")
    block = term.block(heartbeat=30.0)
    workload.set_tag("serve")
    index = 0
    seen = len(book.jobs)
    while True:
        workload.act(index=index)
        index += 1
        for _ in range(20):
            book.poll()
            routes = stages.current_routes(queues)
            recent = book.recent[-4:]
            arrow = term.arrow()
            block.update([
                "  routes: " + f" {term.dot()} ".join(f"{q}{arrow}{r}" for q, r in routes.items()),
                "  latest: " + f" {term.dot()} ".join(f"{j.task.rsplit('.', 1)[-1]}{arrow}{j.backend}" for j in recent)
                + f"   ({len(book.jobs) - seen} jobs since serving)",
            ])
            time.sleep(0.1)
        sys.stdout.flush()
