"""Read every input into one :class:`~.reader.Partial`, in this process or across worker processes.

Parsing JSON is most of the cost of ``compare`` and it is CPU-bound, so a
large input is cut into blocks (:mod:`.sources`) that worker processes parse
while this process merges their partials in input order (so line numbers in
the malformed-line examples stay right). Small inputs, and ``workers=1``, are
parsed here with no pool at all. While the pool starts (a fork server: a new
interpreter and its imports), this process parses the first block itself; the
workers take the rest as soon as they are up.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
import threading
from collections import defaultdict
from typing import Any, Iterator

from .reader import ParseSpec, Partial, parse_bytes, parse_lines
from .sources import Block, Input, LinesInput, PathInput, StreamInput, blocks, text_lines


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def parse_block(job: tuple[Block, ParseSpec]) -> tuple[str, Partial]:
    """Worker entry point: one block in, its source's label and its partial out (line numbers relative to the block)."""
    block, spec = job
    return block.label, parse_data(block.read(), spec, block.label)


def parse_data(data: bytes, spec: ParseSpec, label: str, into: Partial | None = None, line_offset: int = 0) -> Partial:
    """A block of bytes, parsed as bytes (see :func:`~.reader.parse_bytes`)."""
    return parse_bytes(data, spec, label, into=into, line_offset=line_offset)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers come from a fork server, not from this process: a process that has
    dispatched jobs holds broker connections and threads, and kombu's after-fork
    clean-up in a child forked from it blocks on them (seen with the test
    session's Celery connections). The server imports the parser once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
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
    all_blocks = itertools.chain(head, all_blocks)
    offsets: defaultdict[str, int] = defaultdict(int)

    if workers == 1 or len(head) < 2:
        for block in all_blocks:
            before = total.lines
            parse_data(block.read(), spec, block.label, into=total, line_offset=offsets[block.label])
            offsets[block.label] += total.lines - before
        return total

    first = next(all_blocks)
    with _BootingPool(workers, ((block, spec) for block in all_blocks)) as booting:
        parse_data(first.read(), spec, first.label, into=total)  # while the workers start: about 0.2 s of interpreter and imports
        offsets[first.label] = total.lines
        for label, partial in booting.results():
            total.merge(partial, line_offset=offsets[label])
            offsets[label] += partial.lines
    return total


class _BootingPool:
    """A worker pool started on a thread, already handed the blocks after the first: creating
    a pool waits on the fork server, which this process spends parsing the first block."""

    def __init__(self, workers: int, jobs: Iterator[tuple[Block, ParseSpec]]) -> None:
        self._pool: Any = None
        self._results: Iterator[tuple[str, Partial]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, args=(workers, jobs), daemon=True)

    def _start(self, workers: int, jobs: Iterator[tuple[Block, ParseSpec]]) -> None:
        try:
            self._pool = _pool_context().Pool(workers)
            self._results = self._pool.imap(parse_block, jobs, chunksize=1)
        except BaseException as error:  # raised in the parsing thread by results()
            self._error = error

    def results(self) -> Iterator[tuple[str, Partial]]:
        """The partials of the blocks after the first, in input order."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._results is not None
        return self._results

    def __enter__(self) -> _BootingPool:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()
        if self._pool is not None:
            self._pool.terminate()
