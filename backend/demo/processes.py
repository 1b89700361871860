"""A small supervisor: child processes in their own process groups, all stopped on the way out.

Every child runs in a new session (so a Ctrl-C in the terminal reaches only
the demo, which then stops the children in order) and, on Linux, asks the
kernel to send it SIGTERM should the demo itself die. :meth:`Supervisor.stop_all`
sends SIGTERM to each child's whole process group (a Celery worker's pool
processes, an RQ worker's work horse), waits, then SIGKILLs whatever is left.
It runs from ``finally``, from ``atexit`` and from the signal handlers, so
no path out of the demo leaves a process behind.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


class ChildExited(RuntimeError):
    """An essential child process ended while the demo still needed it."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM / SIGHUP, turned into the same unwinding Ctrl-C gives."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log_path: Path | None
    essential: bool
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-chars:]
        return data.decode(errors="replace")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Supervisor:
    """Starts children and guarantees they are gone when it is closed."""

    def __init__(self, cwd: Path, pid_file: Path | None = None, grace: float = 8.0) -> None:
        self.cwd = cwd
        self.pid_file = pid_file
        self.grace = grace
        self.children: list[Child] = []
        self._lock = threading.RLock()
        self._closed = False
        self._previous_handlers: dict[int, Any] = {}

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Supervisor:
        atexit.register(self.stop_all)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self._previous_handlers[sig] = signal.signal(sig, self._interrupt)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_all()
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        atexit.unregister(self.stop_all)

    @staticmethod
    def _interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    # -- children ----------------------------------------------------------

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        essential: bool = True,
        inherit_output: bool = False,
    ) -> Child:
        """Start ``argv`` in a new session; its output goes to ``log_path`` (or this terminal)."""
        with self._lock:
            if self._closed:
                raise ChildExited("the demo is stopping")
            log = None
            if log_path is not None and not inherit_output:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log = open(log_path, "ab")
            popen = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=None if inherit_output else (log or subprocess.DEVNULL),
                stderr=None if inherit_output else (subprocess.STDOUT if log else subprocess.DEVNULL),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            child = Child(name, popen, log_path, essential, _log=log)
            self.children.append(child)
            self._write_pids()
            return child

    def check(self) -> None:
        """Raise :class:`ChildExited` when an essential child has ended."""
        for child in list(self.children):
            if child.essential and not child.alive():
                tail = child.tail(2000)
                where = f" (log {child.log_path})" if child.log_path else ""
                raise ChildExited(
                    f"{child.name} (pid {child.pid}) exited with code {child.popen.returncode}{where}"
                    + (f"\n--- last lines ---\n{tail}" if tail else "")
                )

    def stop(self, child: Child, grace: float | None = None) -> None:
        self._stop([child], self.grace if grace is None else grace)

    def stop_all(self) -> None:
        """Stop every child (all but Redis together, then Redis); SIGKILL what outlives the grace period. Idempotent."""
        with self._lock:
            self._closed = True
            children = list(reversed(self.children))
        if not children:
            return
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        try:
            self._stop(children, self.grace)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _stop(self, children: list[Child], grace: float) -> None:
        live = [child for child in children if child.alive() or _group_alive(child.pid)]
        # Stop the parts that use Redis before Redis itself, so they shut down cleanly.
        last = [child for child in live if child.name == "redis"]
        first = [child for child in live if child.name != "redis"]
        for batch in (first, last):
            if not batch:
                continue
            for child in batch:
                _signal_group(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            for child in batch:
                try:
                    child.popen.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            # The group leader may be gone while its pool processes linger; the group goes entirely.
            while time.monotonic() < deadline and any(_group_alive(child.pid) for child in batch):
                time.sleep(0.05)
            for child in batch:
                if child.alive() or _group_alive(child.pid):
                    _signal_group(child.pid, signal.SIGKILL)
            for child in batch:
                try:
                    child.popen.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                if child._log is not None:
                    child._log.close()
                    child._log = None

    # -- bookkeeping -------------------------------------------------------

    def _write_pids(self) -> None:
        if self.pid_file is None:
            return
        data = {"supervisor": os.getpid(), "children": [{"name": c.name, "pid": c.pid, "pgid": c.pid} for c in self.children]}
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.pid_file)
