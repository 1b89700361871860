"""The knowledge index sources are uploaded to for retrieval (RAGFlow in DeepSight).

:class:`KnowledgeIndex` is the slice of RAGFlow's API the tasks use: upload a
document, trigger parsing, poll its status (``UNSTART`` / ``RUNNING`` /
``DONE`` / ``FAIL`` / ``CANCEL``, RAGFlow's own words). :class:`LocalKnowledgeIndex`
implements it in Redis (``settings.REDIS_URL``) so every web and worker
process sees the same documents: upload stores the text as chunks, and parsing
"completes" asynchronously, after ``KNOWLEDGE_INDEX_POLLS_TO_DONE`` status
polls, like a remote parser that takes a while.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Protocol

import redis
from django.conf import settings

from .. import conf

UNSTART, RUNNING, DONE, FAIL, CANCEL = "UNSTART", "RUNNING", "DONE", "FAIL", "CANCEL"
FINISHED = (DONE, FAIL, CANCEL)


class KnowledgeIndexError(Exception):
    """The index refused the request (unknown document, bad input)."""


class KnowledgeIndexUnavailable(KnowledgeIndexError):
    """The index could not be reached; worth retrying."""


@dataclass(frozen=True)
class DocumentState:
    document_id: str
    status: str
    progress: float
    chunk_count: int
    message: str = ""


class KnowledgeIndex(Protocol):
    def create_dataset(self, name: str) -> str: ...
    def upload(self, dataset_id: str, filename: str, content: str) -> str: ...
    def parse(self, dataset_id: str, document_ids: list[str]) -> None: ...
    def status(self, dataset_id: str, document_id: str) -> DocumentState: ...
    def cancel(self, dataset_id: str, document_id: str) -> bool: ...
    def delete(self, dataset_id: str, document_id: str) -> None: ...


def chunk_text(text: str, size: int) -> list[str]:
    """Paragraph-aligned chunks of at most ``size`` characters (longer paragraphs are cut)."""
    chunks: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if current and len(current) + 2 + len(paragraph) > size:
            chunks.append(current)
            current = ""
        while len(paragraph) > size:
            chunks.append(paragraph[:size])
            paragraph = paragraph[size:]
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current.strip():
        chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


PREFIX = "notebooks:kindex:"

# KEYS[1] document hash. One poll: RUNNING advances, and finishes after polls_to_done polls.
_POLL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
if redis.call('HGET', KEYS[1], 'status') == 'RUNNING' then
  local polls = redis.call('HINCRBY', KEYS[1], 'polls', 1)
  if polls >= tonumber(redis.call('HGET', KEYS[1], 'polls_to_done')) then
    if tonumber(redis.call('HGET', KEYS[1], 'chunk_count')) > 0 then
      redis.call('HSET', KEYS[1], 'status', 'DONE')
    else
      redis.call('HSET', KEYS[1], 'status', 'FAIL', 'message', 'the document has no text to index')
    end
  end
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS[1] document hash; ARGV[1] new status; ARGV[2..] statuses it may move from.
_MOVE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return nil end
for i = 2, #ARGV do
  if status == ARGV[i] then redis.call('HSET', KEYS[1], 'status', ARGV[1]); return 1 end
end
return 0
"""


class LocalKnowledgeIndex:
    """A working knowledge index in Redis: datasets, documents, chunks, simulated parsing."""

    def __init__(self) -> None:
        self._pid: int | None = None

    @property
    def conn(self) -> redis.Redis:
        """This process's connection (a forked worker child opens its own)."""
        if self._pid != os.getpid():
            self._conn = redis.Redis.from_url(settings.REDIS_URL)
            self._scripts = (self._conn.register_script(_POLL), self._conn.register_script(_MOVE))
            self._pid = os.getpid()
        return self._conn

    @property
    def _poll(self):
        return self.conn and self._scripts[0]

    @property
    def _move(self):
        return self.conn and self._scripts[1]

    def _doc(self, document_id: str) -> str:
        return f"{PREFIX}doc:{document_id}"

    def _call(self, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise KnowledgeIndexUnavailable(f"knowledge index unreachable: {exc}") from exc

    def create_dataset(self, name: str) -> str:
        dataset_id = uuid.uuid4().hex
        self._call(self.conn.hset, f"{PREFIX}dataset:{dataset_id}", mapping={"name": name})
        return dataset_id

    def upload(self, dataset_id: str, filename: str, content: str, *, polls_to_done: int | None = None) -> str:
        """Store ``content`` as chunks of a new document; ``polls_to_done`` overrides the setting."""
        if not self._call(self.conn.exists, f"{PREFIX}dataset:{dataset_id}"):
            raise KnowledgeIndexError(f"no dataset {dataset_id!r}")
        document_id = uuid.uuid4().hex
        chunks = chunk_text(content, conf.get("KNOWLEDGE_INDEX_CHUNK_CHARS"))
        todo = polls_to_done if polls_to_done is not None else conf.get("KNOWLEDGE_INDEX_POLLS_TO_DONE")
        with self.conn.pipeline() as pipe:
            pipe.hset(self._doc(document_id), mapping={
                "dataset": dataset_id, "filename": filename, "status": UNSTART, "polls": 0,
                "polls_to_done": max(1, int(todo)), "chunk_count": len(chunks), "message": "",
            })
            if chunks:
                pipe.rpush(f"{self._doc(document_id)}:chunks", *chunks)
            pipe.sadd(f"{PREFIX}dataset:{dataset_id}:docs", document_id)
            self._call(pipe.execute)
        return document_id

    def parse(self, dataset_id: str, document_ids: list[str]) -> None:
        for document_id in document_ids:
            if self._call(self._move, keys=[self._doc(document_id)], args=[RUNNING, UNSTART]) is None:
                raise KnowledgeIndexError(f"no document {document_id!r}")

    def status(self, dataset_id: str, document_id: str) -> DocumentState:
        raw = self._call(self._poll, keys=[self._doc(document_id)])
        if raw is None:
            raise KnowledgeIndexError(f"no document {document_id!r}")
        fields = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
        todo = int(fields["polls_to_done"])
        progress = 1.0 if fields["status"] == DONE else min(int(fields["polls"]) / todo, 0.99)
        return DocumentState(document_id, fields["status"], progress, int(fields["chunk_count"]), fields.get("message", ""))

    def cancel(self, dataset_id: str, document_id: str) -> bool:
        """Stop parsing a document (RAGFlow's "stop parsing"); False when it had already finished."""
        return bool(self._call(self._move, keys=[self._doc(document_id)], args=[CANCEL, UNSTART, RUNNING]))

    def delete(self, dataset_id: str, document_id: str) -> None:
        self._call(self.conn.delete, self._doc(document_id), f"{self._doc(document_id)}:chunks")
        self._call(self.conn.srem, f"{PREFIX}dataset:{dataset_id}:docs", document_id)

    def chunks(self, document_id: str) -> list[str]:
        return [chunk.decode() for chunk in self._call(self.conn.lrange, f"{self._doc(document_id)}:chunks", 0, -1)]
