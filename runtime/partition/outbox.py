"""The cross-partition outbox: records for other partitions, produced once applied.

A call or send, a call's result, a kill of a callee, a cron tick's invocation...
is a record on another partition of ``rt.log``. The machine stores it in the
partition's outbox hash in the same atomic apply as the entry that causes it
(:func:`outbox_entry`); the processor produces it after the apply
(:class:`OutboxSender`) and deletes the field once the broker acknowledged it
(outside the fenced apply: :mod:`runtime.partition.housekeeping` says why that is safe).
A new owner re-sends whatever is left, in creation order; targets recognise
duplicates by their deterministic ids (ADR 0002, "Cross-partition effects").

Owns the outbox item format and the sending; may not decide what goes out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

import msgspec
import redis.asyncio as aioredis

from runtime.log import records
from runtime.log.producer import LogProducer
from runtime.partition.housekeeping import forget_sent
from runtime.state.keys import PartitionKeys
from runtime.state.store import HSet, PartitionStore

log = logging.getLogger("rt.processor")


class OutboxItem(msgspec.Struct, frozen=True, array_like=True):
    """A record to produce to another partition once the entry causing it is applied."""

    partition: int
    key: bytes
    record: bytes
    seq: int = 0
    """Creation order: a take-over re-sends pending items in this order (a Kill must not
    overtake the Invoke of the callee it kills)."""


_outbox_enc = msgspec.msgpack.Encoder()
_outbox_dec = msgspec.msgpack.Decoder(OutboxItem)


def outbox_entry(
    keys: PartitionKeys, partition: int, key: bytes, rec: records.Record, seq: int
) -> tuple[str, HSet]:
    """The outbox field of ``rec`` and the op storing it."""
    item = OutboxItem(partition, key, records.encode(rec), seq)
    blob = _outbox_enc.encode(item)
    field_ = hashlib.blake2b(blob, digest_size=12).hexdigest()
    return field_, HSet(keys.outbox, field_, blob)


class OutboxSender:
    """Produces a partition's outbox records while its owner leads.

    Args:
        keys: The partition's keys.
        producer: Appends to rt.log.
        store: Reads the outbox at take-over.
        redis: Deletes sent fields.
        leading: Whether records may be produced now (the owner leads).
        stopped: Whether the owner has stopped (sent fields are then left to the next).
    """

    def __init__(
        self,
        keys: PartitionKeys,
        producer: LogProducer,
        store: PartitionStore,
        redis: aioredis.Redis,
        leading: Callable[[], bool],
        stopped: Callable[[], bool],
    ) -> None:
        self._keys = keys
        self._producer = producer
        self._store = store
        self._redis = redis
        self._leading = leading
        self._stopped = stopped

    def send(self, field_: str, partition: int, key: bytes, rec: records.Record) -> None:
        """Produce one record (an effect: its outbox field is applied); only the leader."""
        if not self._leading():
            return
        fut = self._producer.append(partition, key, rec)

        def delivered(f: asyncio.Future[int]) -> None:
            if f.exception() is None and not self._stopped():
                asyncio.get_running_loop().create_task(self._done(field_))

        fut.add_done_callback(delivered)

    async def _done(self, field_: str) -> None:
        try:
            # Outside the fenced apply: safe for a stale owner too (see housekeeping).
            await forget_sent(self._redis, self._keys.outbox, field_)
        except Exception:  # noqa: BLE001 - re-sent after a take-over; targets dedupe
            log.debug("outbox cleanup failed", exc_info=True)

    async def flush(self) -> None:
        """Re-send every pending record, in creation order (on becoming the leader)."""
        items = await self._store.hgetall(self._keys.outbox)
        pending = sorted(
            ((f.decode(), _outbox_dec.decode(blob)) for f, blob in items.items()),
            key=lambda fi: fi[1].seq,
        )
        for f, item in pending:
            self.send(f, item.partition, item.key, records.decode(item.record))
