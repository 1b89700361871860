"""The outer half of the demo: Redis, a throw-away database, the Procfile's processes, clean-up.

Nothing here touches the database or Redis through Django: the settings of
this process were loaded before the demo chose its Redis and database. It
prepares an environment, starts every process under the :class:`Supervisor`
(the orchestrator included) and waits, answering the orchestrator's requests to
stop and start RQ workers (:mod:`.control`); Ctrl-C, a failing child or the
end of the run all leave through the same ``finally``.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from . import control, redis_embedded
from .processes import ChildExited, Interrupted, Supervisor
from .progress import Terminal

SETTINGS = "backend.demo.settings"
# The processes of the Procfile the demo runs, in start order.
KINDS = ("celery_worker", "celery_beat", "rq_worker", "rq_scheduler", "reconciler", "guard", "web")
# Started once the database is migrated: the schedulers' first ticks read the flags, the guard its audit rows.
AFTER_MIGRATE = ("celery_beat", "rq_scheduler", "reconciler", "guard")
FALLBACK_PROCFILE = {
    "web": "python manage.py runserver 127.0.0.1:8000",
    "celery_worker": "celery -A backend worker -Q {queues} -c 2 -l info",
    "celery_beat": "celery -A backend beat -l info",
    "rq_worker": "python manage.py rqworker --with-scheduler {queues_spaced}",
    "rq_scheduler": "python manage.py rqscheduler",
    "reconciler": "python manage.py taskbridge reconcile",
    "guard": "python manage.py taskbridge guard",
}


def read_procfile(path: Path, queues: list[str]) -> dict[str, str]:
    """``kind: command`` lines of the Procfile, with the defaults for kinds it lacks."""
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, command = line.partition(":")
            if sep and not line.lstrip().startswith("#") and name.strip() in KINDS:
                found[name.strip()] = command.strip()
    for kind, command in FALLBACK_PROCFILE.items():
        found.setdefault(kind, command.format(queues=",".join(queues), queues_spaced=" ".join(queues)))
    return found


def _executable(argv: list[str]) -> list[str]:
    """The Procfile's ``python`` / ``celery`` as this interpreter, so no activated virtualenv is needed."""
    if argv and argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    if argv and argv[0] == "celery":
        return [sys.executable, "-m", "celery", *argv[1:]]
    return argv


def demo_commands(procfile: dict[str, str], temp: Path, port: int, tag: str) -> dict[str, list[str]]:
    """The Procfile commands plus what the demo needs: names, its port, state in the temp directory."""
    commands = {kind: _executable(shlex.split(procfile[kind])) for kind in KINDS}
    web = [part for part in commands["web"] if not (":" in part and part.split(":")[-1].isdigit())]
    commands["web"] = [*web, f"127.0.0.1:{port}", "--noreload"]
    commands["celery_worker"] += ["-n", f"{tag}@%h", "--without-mingle", "--without-gossip"]
    commands["celery_beat"] += ["-s", str(temp / "celerybeat-schedule")]
    scheduler = commands["rq_scheduler"]
    if "rqscheduler" in scheduler:
        # Stock rqscheduler writes its jobs with RQ's default, non-JSON serializer and knows nothing of TASKBRIDGE["SCHEDULE"];
        # taskbridge's scheduler (schedule-sync, then the loop) is the documented start.
        scheduler = [scheduler[0], "manage.py", "taskbridge", "scheduler"]
    # The demo's periods are seconds long (backend/demo/settings.py): check for due ticks every second.
    if "--interval" in scheduler[:-1]:
        scheduler[scheduler.index("--interval") + 1] = "1"
    else:
        scheduler = [part for part in scheduler if not part.startswith("--interval=")] + ["--interval", "1"]
    commands["rq_scheduler"] = scheduler
    return commands


def rq_argv(command: list[str], all_queues: list[str], queues: list[str], name: str) -> list[str]:
    """The Procfile's RQ worker command, consuming ``queues``, named ``name``."""
    return [*(part for part in command if part not in all_queues), *queues, "--name", name]


class WorkerControl:
    """The orchestrator's requests (:mod:`.control`): stop RQ workers on purpose, start them (again).

    ``{"action": "stop", "names": [...]}`` stops those children (no longer essential, so the
    supervisor does not call their end a failure); ``{"action": "start", "name": ..., "worker": ...,
    "queues": [...], "env": {...}}`` starts an RQ worker as ``name`` (its worker name ``worker``,
    consuming ``queues``, default all) with ``env`` over the demo's environment."""

    def __init__(self, supervisor: Supervisor, env: dict[str, str], command: list[str], queues: list[str], logs: Path) -> None:
        self.supervisor = supervisor
        self.env = env
        self.command = command
        self.queues = queues
        self.logs = logs

    def __call__(self, request: dict) -> dict:
        if request["action"] == "stop":
            stopped = {}
            for child in self.supervisor.children:
                if child.name in request["names"] and child.alive():
                    child.essential = False
                    self.supervisor.stop(child)
                    stopped[child.name] = child.popen.returncode
            return {"stopped": stopped}
        if request["action"] == "start":
            queues = request.get("queues") or self.queues
            unknown = set(queues) - set(self.queues)
            if unknown:
                raise ValueError(f"unknown queue(s) {sorted(unknown)}")
            name = request["name"]
            child = self.supervisor.start(name, rq_argv(self.command, self.queues, queues, request["worker"]),
                                          env={**self.env, **request.get("env", {})}, log_path=self.logs / f"{name}.log")
            return {"pid": child.pid}
        raise ValueError(f"unknown action {request['action']!r}")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(wanted: int) -> int:
    """``wanted`` when it is free, else (or for 0) any free loopback port."""
    if wanted and port_free(wanted):
        return wanted
    return redis_embedded.free_port()


def _reset_out(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("events.log", "summary.json", "report.html", "compare.json", "pids.json"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "logs", ignore_errors=True)
    shutil.rmtree(out / "control", ignore_errors=True)
    (out / "logs").mkdir()


def child_env(redis_url: str, temp: Path, out: Path, options: dict) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("TASKBRIDGE_TEST_SQLITE", "DJANGO_CONFIGURATION"):
        env.pop(name, None)
    env.update({
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{temp / 'db.sqlite3'}",
        "MEDIA_ROOT": str(temp / "media"),
        "TASKBRIDGE_EVENT_LOG": str(out / "events.log"),
        "PYTHONUNBUFFERED": "1",
        "TASKBRIDGE_DEMO_PERIOD": "3" if options["short"] else "5",
        # The local site the orchestrator serves for URL ingestion: the one address the workers' guard lets through.
        "TASKBRIDGE_DEMO_SITE_PORT": str(redis_embedded.free_port()),
    })
    return env


def _wait_for(supervisor: Supervisor, child, timeout: float) -> None:
    """Wait for a one-off child (migrate) to succeed, while checking the long-running ones."""
    deadline = time.monotonic() + timeout
    while child.alive():
        supervisor.check()
        if time.monotonic() > deadline:
            raise ChildExited(f"{child.name} did not finish within {timeout:.0f}s (log {child.log_path})")
        time.sleep(0.05)
    if child.popen.returncode != 0:
        raise ChildExited(f"{child.name} failed with code {child.popen.returncode}:\n{child.tail(3000)}")


def main(options: dict) -> int:
    from django.conf import settings

    started = time.monotonic()
    term = Terminal()
    base_dir = Path(settings.BASE_DIR)
    queues = list(settings.TASKBRIDGE["QUEUES"])
    if options["queue"] not in queues:
        term.write(f"taskbridge demo: --queue {options['queue']!r} is not one of {', '.join(queues)}")
        return 2
    if options["rq_workers"] < 1 or options["percent"] < 0 or options["percent"] > 100:
        term.write("taskbridge demo: --rq-workers must be at least 1 and --percent between 0 and 100")
        return 2
    out = Path(options["out"]).resolve()
    _reset_out(out)
    logs = out / "logs"
    temp = Path(tempfile.mkdtemp(prefix="taskbridge-demo-"))
    tag = f"demo{os.getpid()}"
    supervisor = Supervisor(base_dir, pid_file=out / "pids.json")
    code = 1
    term.write(f"taskbridge demo {term.dot()} staged Celery {term.arrow()} RQ cutover of the reference workload")
    try:
        with supervisor:
            redis = redis_embedded.choose(supervisor, temp / "redis", logs / "redis.log")
            env = child_env(redis.url, temp, out, options)
            term.write(f"  redis      {redis.description}")
            if not redis.embedded:
                for note in redis_embedded.occupants(redis.url, queues):
                    term.write(f"  warning    {note}; a Redis database of the demo's own avoids that "
                               f"(e.g. REDIS_URL=redis://host:6379/15)")
            term.write(f"  database   throw-away SQLite in {temp}")
            term.write(f"  output     {out}  (events.log, report.html, summary.json, logs/)")
            port = pick_port(options["port"])
            commands = demo_commands(read_procfile(base_dir / "Procfile", queues), temp, port, tag)
            # The workers and the web server boot (imports, checks) while the database is migrated;
            # the schedulers, whose first ticks read the flags, start once it is.
            migrate = supervisor.start("migrate", [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                                       env=env, log_path=logs / "migrate.log", essential=False)
            # The formation: one Celery worker (-c 2 in the Procfile) and as many RQ worker processes,
            # since an RQ worker runs one job at a time (docs/runbook.md, "Capacity").
            rq_names = [f"{tag}-rq{i}" for i in range(1, options["rq_workers"] + 1)]
            processes = [(kind, commands[kind]) for kind in KINDS if kind not in AFTER_MIGRATE and kind != "rq_worker"]
            processes[1:1] = [(f"rq_worker.{i}", rq_argv(commands["rq_worker"], queues, queues, name))
                              for i, name in enumerate(rq_names, 1)]
            children = {name: supervisor.start(name, argv, env=env, log_path=logs / f"{name}.log") for name, argv in processes}
            _wait_for(supervisor, migrate, timeout=120)
            children.update({kind: supervisor.start(kind, commands[kind], env=env, log_path=logs / f"{kind}.log")
                             for kind in AFTER_MIGRATE})
            answers = control.Answers(out / "control", WorkerControl(supervisor, env, commands["rq_worker"], queues, logs))
            term.write("  processes  " + ", ".join(f"{name} ({child.pid})" for name, child in children.items()))
            password = secrets.token_urlsafe(9)
            inner_env = {**env, "TASKBRIDGE_DEMO_ADMIN_PASSWORD": password, "TASKBRIDGE_DEMO_WEB": f"http://127.0.0.1:{port}",
                         "TASKBRIDGE_DEMO_WORKERS": ",".join([f"{tag}@{socket.gethostname()}", *rq_names]),
                         "TASKBRIDGE_DEMO_REDIS": redis.description, "TASKBRIDGE_DEMO_CONTROL": str(out / "control"),
                         "TASKBRIDGE_DEMO_TEMP": str(temp),
                         "TASKBRIDGE_DEMO_STARTED": str(time.time() - (time.monotonic() - started))}
            argv = [sys.executable, "manage.py", "taskbridge", "demo", "--_inner", "--out", str(out),
                    "--queue", options["queue"], "--percent", str(options["percent"])]
            if options["short"]:
                argv.append("--short")
            if options["actions"] is not None:
                argv += ["--actions", str(options["actions"])]
            if options["serve"]:
                argv.append("--serve")
            inner = supervisor.start("demo", argv, env=inner_env, log_path=None, inherit_output=True, essential=False)
            while inner.alive():
                supervisor.check()
                answers.serve()
                time.sleep(0.1)
            code = inner.popen.returncode
    except KeyboardInterrupt as exc:
        reason = str(exc) if isinstance(exc, Interrupted) else "Ctrl-C"
        term.write(f"\ntaskbridge demo: interrupted ({reason}); stopping every process")
        code = 0 if (options["serve"] and _demo_finished(out)) else 130
    except ChildExited as exc:
        term.write(f"\ntaskbridge demo: FAILED: {exc}")
        code = 1
    except redis_embedded.RedisUnavailable as exc:
        term.write(f"taskbridge demo: {exc}")
        code = 1
    finally:
        supervisor.stop_all()
        survivors = [child for child in supervisor.children if child.alive()]
        if not options["keep_temp"]:
            shutil.rmtree(temp, ignore_errors=True)
    elapsed = time.monotonic() - started
    stopped = len(supervisor.children)
    term.write(
        f"taskbridge demo: {'done' if code == 0 else 'failed' if code != 130 else 'interrupted'} in {elapsed:.0f}s; "
        f"stopped {stopped} processes" + (f", {len(survivors)} did not stop!" if survivors else ", none left running")
    )
    return code


def _demo_finished(out: Path) -> bool:
    import json

    try:
        return bool(json.loads((out / "summary.json").read_text()).get("ok"))
    except (OSError, ValueError):
        return False
