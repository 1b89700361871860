"""Plain-terminal output: a progress bar per stage and a live line of what is routed where.

On a terminal the block of lines is redrawn in place (ANSI cursor-up and
erase-line, nothing else); on a pipe or a file (CI, the tests) each block is
printed once when it is finished, plus a heartbeat line now and then, so the
log stays readable.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import IO


def _can_encode(stream: IO[str], text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Terminal:
    def __init__(self, stream: IO[str] | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        if live is None:
            live = self.stream.isatty() and os.environ.get("TERM", "") not in ("", "dumb")
        self.live = live
        self.fancy = _can_encode(self.stream, "█░→·✓✗")

    def width(self) -> int:
        return max(40, shutil.get_terminal_size((100, 24)).columns - 1)

    def write(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def arrow(self) -> str:
        return "→" if self.fancy else "->"

    def dot(self) -> str:
        return "·" if self.fancy else "|"

    def bar(self, done: int, total: int, width: int = 24) -> str:
        full, empty = ("█", "░") if self.fancy else ("#", "-")
        filled = 0 if total <= 0 else min(width, round(width * done / total))
        return full * filled + empty * (width - filled)

    def block(self, heartbeat: float = 15.0) -> LiveBlock:
        return LiveBlock(self, heartbeat)


class LiveBlock:
    """A few lines that change while a stage runs; final once :meth:`finish` is called."""

    def __init__(self, terminal: Terminal, heartbeat: float) -> None:
        self.terminal = terminal
        self.heartbeat = heartbeat
        self._drawn = 0
        self._last_print = time.monotonic()
        self._last_draw = 0.0

    def update(self, lines: list[str], force: bool = False) -> None:
        now = time.monotonic()
        if self.terminal.live:
            if force or now - self._last_draw >= 0.1:
                self._draw(lines)
                self._last_draw = now
        elif now - self._last_print >= self.heartbeat:
            self.terminal.write("  … " + lines[0].strip() if self.terminal.fancy else "  ... " + lines[0].strip())
            self._last_print = now

    def finish(self, lines: list[str]) -> None:
        if self.terminal.live:
            # The final state is printed whole (wrapping if it must), not cut to the terminal's width.
            self._draw([])
            for line in lines:
                self.terminal.write(line)
        else:
            for line in lines:
                self.terminal.write(line)
        self._drawn = 0

    def _draw(self, lines: list[str]) -> None:
        width = self.terminal.width()
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}A")
        for line in lines:
            out.append("\r\x1b[2K" + line[:width] + "\n")
        # A shorter block than last time: clear the lines left below it.
        for _ in range(self._drawn - len(lines)):
            out.append("\r\x1b[2K\n")
        extra = max(0, self._drawn - len(lines))
        if extra:
            out.append(f"\x1b[{extra}A")
        self.terminal.stream.write("".join(out))
        self.terminal.stream.flush()
        self._drawn = len(lines)
