"""Benchmark ``manage.py taskbridge compare`` on a generated 1,000,000-event log.

Usage::

    python benchmarks/compare.py                 # generate, then time both entry points
    python benchmarks/compare.py --events 200000 # a smaller run
    python benchmarks/compare.py --entry manage  # only manage.py taskbridge compare
    python benchmarks/compare.py --log big.jsonl --keep   # reuse a log between runs

The log has the key order ``taskbridge.events.emit`` writes, with the
standard library's spaced separators (``emit`` writes orjson's compact ones,
so its lines are about 10 % shorter and quicker to read; the spaced form is
the harder case), about 345 bytes a line, with the mix a real migration log
has: three queues, two backends, retries, failures, cancellations, skipped
duplicates, a route change per queue, a few stranded and duplicate jobs, a few
malformed lines and lines from a newer schema, and processes' lines
interleaved out of order.

``compare`` runs in a child process. Wall time is measured around the whole
child (interpreter and Django start-up included). CPU time (from the memory
run) is the user and system time of the child and its worker processes, so a
figure per CPU-second is also given: on a shared machine the wall time
depends on what else runs, the CPU time less (though it too grows when the
machine is oversubscribed; docs/performance.md counts instructions with
cachegrind for figures no load moves). Memory is sampled every 10 ms from
/proc/<pid>/smaps_rollup for the child and its worker processes: the peak of
their summed PSS (proportional set size: a page the forked workers share with
their parent counts once, which is the memory the machine really spends), the
peak of their summed RSS (counts shared pages in every process: an upper
bound), and the largest single process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from taskbridge.events import (  # noqa: E402
    CANCELLED,
    ENQUEUED,
    FAILED,
    RETRYING,
    ROUTE_CHANGED,
    SCHEMA_VERSION,
    SKIPPED,
    STARTED,
    SUCCEEDED,
)

QUEUES = {
    "notebooks": ["notebooks.tasks.process_url_task", "notebooks.tasks.process_file_task", "notebooks.tasks.embed_item_task"],
    "podcast": ["podcast.tasks.generate_podcast_task", "podcast.tasks.cancel_podcast_task"],
    "reports": ["reports.tasks.generate_report_task", "reports.tasks.cleanup_reports_task"],
}
HOSTS = ["web-1", "web-2", "worker-celery-1", "worker-celery-2", "worker-rq-1", "worker-rq-2"]
ERRORS = [("TimeoutError", "upstream timed out"), ("ConnectionError", "connection reset by peer"), ("ValueError", "bad input: \"x\"")]


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Writer:
    """Buffers lines and shuffles each buffer: lines of many processes, out of order."""

    def __init__(self, handle, rng: random.Random, window: int = 2000) -> None:
        self.handle, self.rng, self.window = handle, rng, window
        self.buffer: list[str] = []
        self.count = 0

    def line(self, text: str) -> None:
        self.buffer.append(text)
        self.count += 1
        if len(self.buffer) >= self.window:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        self.rng.shuffle(self.buffer)
        self.handle.write("\n".join(self.buffer) + "\n")
        self.buffer.clear()


def _task_event(name: str, backend: str, queue: str, task: str, job_id: str, attempt: int, corr: str, at: float, extra: str = "") -> str:
    host = HOSTS[(ord(job_id[0]) + attempt) % len(HOSTS)]
    return (
        f'{{"backend": "{backend}", "queue": "{queue}", "task": "{task}", "job_id": "{job_id}", "attempt": {attempt}, '
        f'"correlation_id": "{corr}"{extra}, "event": "{name}", "v": {SCHEMA_VERSION}, "timestamp": "{_stamp(at)}", '
        f'"pid": {1000 + attempt}, "host": "{host}"}}'
    )


def generate(path: Path, events: int, seed: int = 7) -> int:
    """Write about ``events`` lines to ``path``; returns the exact number of lines written."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 11, 28, 6, 0, tzinfo=dt.timezone.utc).timestamp()
    span = 6 * 3600.0
    pairs = [(queue, task) for queue, tasks in QUEUES.items() for task in tasks]
    with open(path, "w", encoding="utf-8") as handle:
        out = _Writer(handle, rng)
        for queue in QUEUES:
            out.line(
                f'{{"flag": "taskbridge.queue.{queue}", "queue": "{queue}", "from": "celery", "to": "rq 50%", "user": "ops", '
                f'"event": "{ROUTE_CHANGED}", "v": 1, "timestamp": "{_stamp(start + span / 2)}", "pid": 1, "host": "web-1"}}'
            )
        serial = 0
        while out.count < events - 12:
            serial += 1
            queue, task = pairs[serial % len(pairs)]
            at = start + span * out.count / events
            backend = "rq" if (at > start + span / 2 and serial % 2) else "celery"
            job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            corr = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            route = f', "route": "{backend}:flag-percent"'
            out.line(_task_event(ENQUEUED, backend, queue, task, job_id, 1, corr, at, route))
            roll = rng.random()
            if serial % 5000 == 0:
                continue  # stranded: never started
            if roll < 0.01:  # a second dispatch with the same fixed job id: skipped, the first one runs on
                out.line(_task_event(SKIPPED, backend, queue, task, job_id, 1, corr, at + 0.001, ', "reason": "duplicate job id"'))
            elif roll < 0.02:
                out.line(_task_event(CANCELLED, backend, queue, task, job_id, 1, corr, at + 0.5, ', "phase": "queued"'))
                continue
            attempt = 1
            t = at
            retries = 1 if roll < 0.08 else 0
            for _ in range(retries):
                t += rng.uniform(0.005, 0.2)
                out.line(_task_event(STARTED, backend, queue, task, job_id, attempt, corr, t, f', "wait_ms": {rng.uniform(1, 200):.3f}'))
                duration = rng.uniform(10, 500)
                t += duration / 1000
                error_type, error = rng.choice(ERRORS)
                out.line(_task_event(RETRYING, backend, queue, task, job_id, attempt, corr, t,
                                     f', "countdown": 5, "error_type": "{error_type}", "error": "{error.replace(chr(34), chr(92) + chr(34))}", "duration_ms": {duration:.3f}'))
                attempt += 1
                t += 5
            t += rng.uniform(0.005, 0.2)
            out.line(_task_event(STARTED, backend, queue, task, job_id, attempt, corr, t, f', "wait_ms": {rng.uniform(1, 200):.3f}'))
            duration = rng.lognormvariate(5, 0.8) * (1.1 if backend == "rq" else 1.0)
            t += duration / 1000
            if roll > 0.995:
                error_type, error = rng.choice(ERRORS)
                out.line(_task_event(FAILED, backend, queue, task, job_id, attempt, corr, t,
                                     f', "duration_ms": {duration:.3f}, "error_type": "{error_type}", "error": "{error.replace(chr(34), chr(92) + chr(34))}"'))
            else:
                out.line(_task_event(SUCCEEDED, backend, queue, task, job_id, attempt, corr, t, f', "duration_ms": {duration:.3f}'))
                if serial % 20011 == 0:
                    out.line(_task_event(SUCCEEDED, backend, queue, task, job_id, attempt, corr, t + 1, f', "duration_ms": {duration:.3f}'))
        for index in range(4):
            out.line('{"event": "task.succeeded", "v": 1, "timestamp": "2025-11-28T')  # a line cut short by a killed writer
        for index in range(4):
            out.line(f'{{"event": "task.succeeded", "v": {SCHEMA_VERSION + 1}, "timestamp": "{_stamp(start + index)}", "job_id": "newer-{index}"}}')
        for index in range(4):
            out.line(f'{{"event": "task.teleported", "v": 1, "timestamp": "{_stamp(start + index)}"}}')
        out.flush()
        return out.count


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; PSS shares each page among the processes mapping it."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                key, _, rest = line.partition(" ")
                if key in values:
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values["Rss:"], values["Pss:"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(command: list[str], env: dict[str, str], sample_memory: bool = True) -> dict[str, float]:
    """Run ``command``; wall seconds, peak summed and single-process memory, CPU seconds, exit code.

    Sampling memory reads /proc every 10 ms, which costs CPU on a 2-core
    machine, so timed runs are made without it and memory is taken from a
    separate run. That run also gives the CPU time: the child's own from
    ``wait4``, each descendant's (fork server, parsing workers) as last
    sampled, so a descendant's final 10 ms may be missed."""
    peak_pss = peak_rss = largest = 0
    descendants_cpu: dict[int, float] = {}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_pss, peak_rss, largest
        while not done.is_set():
            tree = _tree(child.pid)
            sizes = [_memory_kib(pid) for pid in tree]
            for pid in tree[1:]:
                descendants_cpu[pid] = max(descendants_cpu.get(pid, 0.0), _cpu_seconds(pid))
            peak_rss = max(peak_rss, sum(rss for rss, _ in sizes))
            peak_pss = max(peak_pss, sum(pss for _, pss in sizes))
            largest = max([largest] + [rss for rss, _ in sizes])
            time.sleep(0.01)

    sampler = threading.Thread(target=sample if sample_memory else done.wait, daemon=True)
    sampler.start()
    _, raw_status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = code = os.waitstatus_to_exitcode(raw_status)
    done.set()
    sampler.join()
    return {
        "wall": elapsed,
        "pss_mb": peak_pss / 1024,
        "rss_mb": peak_rss / 1024,
        "largest_mb": largest / 1024,
        "code": code,
        "cpu": usage.ru_utime + usage.ru_stime + sum(descendants_cpu.values()),
        "load": (load_before + os.getloadavg()[0]) / 2,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="lines in the generated log (default 1,000,000)")
    parser.add_argument("--log", type=Path, help="use (or create) this log instead of a temporary file")
    parser.add_argument("--entry", choices=["manage", "module", "both"], default="both", help="manage.py taskbridge compare, python -m taskbridge.compare, or both (default)")
    parser.add_argument("--output", choices=["json", "text"], default="json")
    parser.add_argument("--workers", type=int, help="passed to compare --workers")
    parser.add_argument("--repeat", type=int, default=3, help="runs per entry point (default 3; the machine may be shared)")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--generate-only", action="store_true", help="write the log (to --log) and stop: an example input for docs and demos")
    args = parser.parse_args()

    log = args.log or Path(tempfile.gettempdir()) / f"taskbridge-compare-{args.events}.jsonl"
    if not log.exists():
        started = time.perf_counter()
        lines = generate(log, args.events)
        print(f"generated {lines:,} lines, {log.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f}s: {log}")
    if args.generate_only:
        return 0
    with open(log, "rb") as handle:
        lines = sum(1 for _ in handle)

    flags = ["--json"] if args.output == "json" else []
    if args.workers:
        flags += ["--workers", str(args.workers)]
    entries = {
        "manage": [sys.executable, "manage.py", "taskbridge", "compare", str(log), *flags],
        "module": [sys.executable, "-m", "taskbridge.compare", str(log), "--baseline", "celery", "--candidate", "rq", *flags],
    }
    # What each entry pays before it reads a line: the interpreter, plus Django for manage.py.
    startups = {
        "manage": ("interpreter + Django start-up", [sys.executable, "-c", "import django; django.setup()"]),
        "module": ("interpreter + import start-up", [sys.executable, "-c", "import taskbridge.compare.command"]),
    }
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.dev")
    status = 0
    cpus = len(os.sched_getaffinity(0))
    summary: dict[str, tuple[float, float, float]] = {}
    for entry in (["manage", "module"] if args.entry == "both" else [args.entry]):
        command = entries[entry]
        print(f"\ncommand: {' '.join(['python', *command[1:]])}")
        startup_label, startup_command = startups[entry]
        startup = min(run(startup_command, env, sample_memory=False)["wall"] for _ in range(3))
        runs = []
        for attempt in range(1, args.repeat + 1):
            figures = run(command, env, sample_memory=False)
            runs.append(figures)
            print(
                f"  run {attempt}: {lines / figures['wall']:,.0f} events/s ({figures['wall']:.2f} s wall); "
                f"load average {figures['load']:.1f} on {cpus} CPUs; exit code {figures['code']}"
            )
            if figures["code"] not in (0, 3):
                status = int(figures["code"])
        memory = run(command, env, sample_memory=True)
        best = min(runs, key=lambda figures: figures["wall"])
        summary[entry] = (lines / best["wall"], memory["rss_mb"], memory["pss_mb"])
        print(
            f"  memory run: peak {memory['pss_mb']:.0f} MB PSS / {memory['rss_mb']:.0f} MB RSS summed over the process and "
            f"its workers, largest process {memory['largest_mb']:.0f} MB; {memory['cpu']:.2f} CPU seconds over the process and its "
            f"workers = {lines / memory['cpu']:,.0f} events per CPU-second (the figure least moved by other load)"
        )
        print(
            f"  best of {len(runs)}: {lines:,} events in {best['wall']:.2f} s = {lines / best['wall']:,.0f} events/s end to end; "
            f"{lines / (best['wall'] - startup):,.0f} events/s without the {startup:.2f} s {startup_label}"
        )
    print("\nsummary (target: at least 500,000 events/s end to end through manage.py, peak under 300 MB):")
    for entry, (rate, rss, pss) in summary.items():
        print(f"  {entry:6}  {rate:>9,.0f} events/s end to end   peak RSS {rss:.0f} MB (PSS {pss:.0f} MB)")
    if not args.keep and args.log is None:
        log.unlink()
    return status


if __name__ == "__main__":
    sys.exit(main())
