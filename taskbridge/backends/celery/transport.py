"""kombu's Redis transport, writing a dispatch's job record in the same round trip as its message.

kombu publishes a Celery message with one LPUSH. taskbridge also writes the
job's record at dispatch (:mod:`taskbridge.ledger`); sent separately, that is a
second round trip on every dispatch, the largest part of what taskbridge added
to a Celery enqueue. Through this transport the record's commands and the
message's LPUSH go in one write on one connection: the record exists before
any worker can take the job, and a publish that fails leaves no record
(taskbridge deletes it).

Only taskbridge's own dispatches publish through it, from a producer pool of
their own (:class:`~taskbridge.backends.celery.CeleryBackend`); Celery's
workers, beat and retries keep kombu's transport.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Sequence

from kombu.transport import redis

Command = tuple[Any, ...]

_pending: ContextVar[tuple[str, Sequence[Command]] | None] = ContextVar("taskbridge_pending_record", default=None)
_collecting: ContextVar[list[Command] | None] = ContextVar("taskbridge_collecting", default=None)


@contextmanager
def publishing_with(job_id: str, commands: Sequence[Command]) -> Iterator[None]:
    """Inside the block, the message of job ``job_id`` is published together with ``commands``."""
    token = _pending.set((job_id, commands))
    try:
        yield
    finally:
        _pending.reset(token)


@contextmanager
def collecting() -> Iterator[list[Command]]:
    """Inside the block, publishes are not sent: the commands that would deliver them are
    appended to the list yielded, for the caller to send together (a moved backlog)."""
    commands: list[Command] = []
    token = _collecting.set(commands)
    try:
        yield commands
    finally:
        _collecting.reset(token)


class _Collected:
    """Takes the place of kombu's publish batch, so that ``_put`` hands over the commands
    that deliver the message (LPUSH, and PEXPIRE for queues with an expiry) instead of
    running them."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    def add(self, name: str, *args: Any) -> None:
        self.commands.append((name, args))


class Channel(redis.Channel):
    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        collecting = _collecting.get()
        if collecting is not None and "_publish_batch" not in kwargs:
            collected = _Collected()
            super()._put(queue, message, _publish_batch=collected, **kwargs)
            collecting.extend((name.upper(), *args) for name, args in collected.commands)
            return
        pending = _pending.get()
        if pending is None or pending[0] != message["headers"].get("id") or "_publish_batch" in kwargs:
            return super()._put(queue, message, **kwargs)
        collected = _Collected()
        super()._put(queue, message, _publish_batch=collected, **kwargs)
        _send_in_order(self.pool, pending[1], [(name.upper(), *args) for name, args in collected.commands])


def _send_in_order(pool: Any, record: Sequence[Command], delivery: list[Command]) -> None:
    """Send the record's commands, then the message's, in one write on one connection,
    and read every reply.

    Redis runs one connection's commands in order, so the record is there
    before the LPUSH that lets a worker pop the message. A redis-py client
    and pipeline would do the same for 40-80 µs more Python per dispatch
    (kombu makes a new client for each publish, and each builds a table of
    169 reply callbacks). An error reply is raised, and the connection,
    replies unread, dropped; on a lost connection kombu's publish retry sends
    the whole group again, which is safe: the record's commands are idempotent.
    """
    link = pool.get_connection()
    try:
        link.send_packed_command(link.pack_commands([*record, *delivery]))
        for _ in range(len(record) + len(delivery)):
            link.read_response(disable_decoding=True)
    except BaseException:
        link.disconnect()
        raise
    finally:
        pool.release(link)


class Transport(redis.Transport):
    Channel = Channel
