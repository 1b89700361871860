"""Where lines come from: files (plain or gzip), standard input, open files, or lines in memory.

Input is handed on in *blocks* of whole lines so that the same parser serves
one process or several: a plain file is cut into byte ranges each worker reads
itself; a stream (gzip, stdin, a pipe) is read here in chunks cut at a newline.
Gzip is recognised by its magic number, not by the file name.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator, Union

from .reader import decode_line

STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class RangeBlock:
    """Bytes ``start``–``end`` of a plain file, both on line boundaries; read by whoever parses it."""

    label: str
    path: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def read(self) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            return handle.read(self.end - self.start)


@dataclass(frozen=True)
class DataBlock:
    """Whole lines already read from a stream."""

    label: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self) -> bytes:
        return self.data


Block = Union[RangeBlock, DataBlock]


@dataclass(frozen=True)
class LinesInput:
    """Lines already in memory (str or bytes), parsed in this process."""

    label: str
    lines: Iterable[str | bytes]


@dataclass(frozen=True)
class PathInput:
    label: str
    path: str


@dataclass(frozen=True)
class StreamInput:
    label: str
    stream: IO[Any]


Input = Union[LinesInput, PathInput, StreamInput]


def normalise(source: Any) -> list[Input]:
    """Turn what a caller passed into inputs.

    * a ``str`` or path-like: one file (``"-"``: standard input);
    * an open file: binary (gzip recognised) or text;
    * an iterable whose first item is a path-like or open file: several sources;
    * any other iterable: lines (``str`` or ``bytes``).
    """
    if isinstance(source, (str, os.PathLike)):
        return [_path_input(source)]
    if hasattr(source, "read"):
        return [StreamInput(getattr(source, "name", "<stream>") if isinstance(getattr(source, "name", None), str) else "<stream>", source)]
    items = source if isinstance(source, (list, tuple)) else list(source)
    if items and (isinstance(items[0], os.PathLike) or hasattr(items[0], "read")):
        inputs: list[Input] = []
        for item in items:
            inputs.extend(normalise(item))
        return inputs
    return [LinesInput("<lines>", items)]


def _path_input(path: str | os.PathLike[str]) -> Input:
    text = os.fspath(path)
    if text == STDIN:
        return StreamInput("<stdin>", sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin)
    if not os.path.exists(text):
        raise FileNotFoundError(f"no such file: {text}")
    if os.path.isdir(text):
        raise FileNotFoundError(f"not a file: {text}")
    return PathInput(text, text)


def known_size(sources: list[PathInput | StreamInput]) -> int:
    """Bytes of input known before reading it: plain files' sizes (a gzip file or a stream adds nothing)."""
    return sum(os.path.getsize(source.path) for source in sources if isinstance(source, PathInput) and not is_gzip(source.path))


def is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def blocks(source: PathInput | StreamInput, block_size: int) -> Iterator[Block]:
    """The blocks of one file or stream, in order."""
    if isinstance(source, PathInput):
        if is_gzip(source.path):
            with gzip.open(source.path, "rb") as stream:
                yield from _stream_blocks(source.label, stream, block_size)
        else:
            yield from _range_blocks(source.label, source.path, block_size)
        return
    stream = source.stream
    if isinstance(stream, io.TextIOBase):
        raise TypeError("text streams are read as lines; see text_lines()")
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)  # a BytesIO or a raw file: add peek() without consuming anything
    head = stream.peek(2)[:2]
    if head == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            yield from _stream_blocks(source.label, unzipped, block_size)
    else:
        yield from _stream_blocks(source.label, stream, block_size)


def _range_blocks(label: str, path: str, block_size: int) -> Iterator[RangeBlock]:
    size = os.path.getsize(path)
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            end = min(start + block_size, size)
            if end < size:
                handle.seek(end)
                handle.readline()
                end = handle.tell()
            yield RangeBlock(label, path, start, end)
            start = end


def _stream_blocks(label: str, stream: IO[bytes], block_size: int) -> Iterator[DataBlock]:
    carry = b""
    while True:
        chunk = stream.read(block_size)
        if not chunk:
            break
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        carry = data[cut:]
        yield DataBlock(label, data[:cut])
    if carry:
        yield DataBlock(label, carry)


def text_lines(items: Iterable[str | bytes]) -> Iterator[str]:
    """Lines from memory or a text stream, bytes decoded line by line (:func:`~.reader.decode_line`)."""
    for item in items:
        yield decode_line(item) if isinstance(item, bytes) else item
