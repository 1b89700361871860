"""Read every input into one :class:`~.reader.Partial`, in this process or across worker processes.

Parsing JSON is most of the cost of ``compare`` and it is CPU-bound, so a
large input is cut into blocks (:mod:`.sources`) that several processes
parse. This process reads the blocks in order and hands each to the workers
through a short queue; when the queue is full it parses the block itself, so
every process is busy whatever the others cost (a worker still starting, a
machine shared with other work), and it keeps the last few blocks
(:data:`TAIL_SHARE`) to itself while the workers send their partials back. Each process parses all the blocks it takes
into *one* partial, so the only merges are one per worker at the end, instead
of one per block (merging and moving a partial between processes cost about
as much as building it). Line numbers in the malformed-line examples are
block-relative until the end, when every block's line count is known.
Small inputs, and ``workers=1``, are parsed here with no worker at all.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from .reader import MAX_EXAMPLES, ParseSpec, Partial, parse_bytes, parse_lines
from .sources import Block, Input, LinesInput, PathInput, StreamInput, blocks, known_size, text_lines


#: The end of the input (this share of the plain files' bytes) is parsed by this process alone,
#: while the workers send their partials back: at 1M events it then waits about 0.08 s for them
#: (reading them in) instead of 0.2 s (benchmarks/compare.py).
TAIL_SHARE = 0.06


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


@dataclass
class Share:
    """What one process parsed: its partial (example lines relative to their block), and per
    block it took, the lines in it and which of the partial's examples came from it."""

    part: Partial = field(default_factory=Partial)
    lines: dict[int, int] = field(default_factory=dict)
    example_blocks: list[int] = field(default_factory=list)

    def parse(self, index: int, block: Block, spec: ParseSpec) -> None:
        lines, examples = self.part.lines, len(self.part.examples)
        parse_bytes(block.read(), spec, block.label, into=self.part)
        self.lines[index] = self.part.lines - lines
        self.example_blocks += [index] * (len(self.part.examples) - examples)


def _work(tasks: Any, results: Any, spec: ParseSpec) -> None:
    """A worker process: parse blocks from ``tasks`` until ``None``, then send the share back."""
    share = Share()
    try:
        while (task := tasks.get()) is not None:
            share.parse(*task, spec)
    except BaseException as error:
        results.put(error)
        raise
    results.put(share)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers are forked from this process when it runs no other thread (the command line:
    a fork costs milliseconds and the workers share its imported modules). Otherwise they
    come from a fork server: a process that has dispatched jobs holds broker connections
    and threads, and kombu's after-fork clean-up in a child forked from it blocks on them
    (seen with the test session's Celery connections). The server imports the parser once."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def collect(inputs: list[Input], spec: ParseSpec, workers: int | None = None, block_size: int = 8 * 1024 * 1024) -> Partial:
    """Parse every input into one partial; see the module docstring for when worker processes are used."""
    workers = default_workers() if workers is None else max(1, workers)
    total = Partial()
    streamed: list[PathInput | StreamInput] = []
    for source in inputs:
        if isinstance(source, LinesInput):
            parse_lines(text_lines(source.lines), spec, source.label, into=total)
        elif isinstance(source, StreamInput) and isinstance(source.stream, io.TextIOBase):
            parse_lines(text_lines(source.stream), spec, source.label, into=total)
        else:
            streamed.append(source)
    if not streamed:
        return total

    all_blocks: Iterator[Block] = itertools.chain.from_iterable(blocks(source, block_size) for source in streamed)
    head = list(itertools.islice(all_blocks, 2))
    labels: list[str] = []
    here = Share(total)
    if workers == 1 or len(head) < 2:
        for index, block in enumerate(itertools.chain(head, all_blocks)):
            labels.append(block.label)
            here.parse(index, block, spec)
        shares = [here]
    else:
        unread = known_size(streamed)
        tail = TAIL_SHARE * unread
        with _Workers(_pool_context(), workers - 1, spec) as pool:
            for index, block in enumerate(itertools.chain(head, all_blocks)):
                labels.append(block.label)
                if unread <= tail:
                    pool.close()
                unread -= block.size
                if not pool.offer(index, block):
                    here.parse(index, block, spec)
            shares = [here, *pool.shares()]
        for share in shares[1:]:
            total.merge(share.part)
    total.examples = _examples(shares, labels)
    return total


def _examples(shares: list[Share], labels: list[str]) -> list[tuple[str, int, str]]:
    """The first malformed-line examples in input order, their line numbers made whole-source."""
    offset: dict[int, int] = {}
    running: dict[str, int] = {}
    lines = {index: count for share in shares for index, count in share.lines.items()}
    for index, label in enumerate(labels):
        offset[index] = running.get(label, 0)
        running[label] = offset[index] + lines[index]
    tagged = sorted(
        (index, line, source, reason)
        for share in shares
        for index, (source, line, reason) in zip(share.example_blocks, share.part.examples)
    )
    return [(source, line + offset[index], reason) for index, line, source, reason in tagged[:MAX_EXAMPLES]]


class _Workers:
    """Worker processes taking blocks from a short queue; each sends back one :class:`Share`.

    Forked workers are started here, before this process has another thread. Workers
    from a fork server are started on a thread, as the first start waits for the
    server (a new interpreter and its imports) while this process is already parsing."""

    def __init__(self, context: multiprocessing.context.BaseContext, count: int, spec: ParseSpec) -> None:
        self._tasks = context.Queue(maxsize=2 * count)
        self._results = context.Queue()
        self._processes = [context.Process(target=_work, args=(self._tasks, self._results, spec), daemon=True) for _ in range(count)]
        self._closed = False
        self._starter: threading.Thread | None = None
        if context.get_start_method() != "fork":
            self._starter = threading.Thread(target=self._start, daemon=True)

    def _start(self) -> None:
        for process in self._processes:
            process.start()

    def __enter__(self) -> _Workers:
        if self._starter is None:
            self._start()
        else:
            self._starter.start()
        return self

    def offer(self, index: int, block: Block) -> bool:
        """Hand a block to the workers; False when their queue is full or closed (parse it here)."""
        if self._closed:
            return False
        try:
            self._tasks.put_nowait((index, block))
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """No more blocks: each worker parses what it was handed, then sends its share."""
        if not self._closed:
            self._closed = True
            for _ in self._processes:
                self._tasks.put(None)

    def shares(self) -> list[Share]:
        """Every worker's share, once the blocks handed over are parsed."""
        if self._starter is not None:
            self._starter.join()
        self.close()
        shares = []
        while len(shares) < len(self._processes):
            try:
                result = self._results.get(timeout=1.0)
            except queue.Empty:
                died = [process.exitcode for process in self._processes if process.exitcode not in (None, 0)]
                if died and self._results.empty():  # a worker that ended well sent its share before it exited
                    raise RuntimeError(f"a compare worker process died (exit code {died[0]})") from None
                continue
            if isinstance(result, BaseException):
                raise result
            shares.append(result)
        return shares

    def __exit__(self, *exc: object) -> None:
        if self._starter is not None:
            self._starter.join()
        for process in self._processes:
            if exc[0] is not None and process.is_alive():
                process.kill()
            process.join(timeout=5)
