"""Dead-letter records: what a poison source record becomes, and the processor's DLQ outbox.

Two ways a record reaches the dead-letter topic, both with the original key
and value and the error in headers (NEVER CHANGE the header names):

- undecodable at intake (bad JSON/Avro, non-UTF-8 key for an object): written
  by the intake in the same Kafka transaction that commits its offset, so it is
  there exactly once for ``read_committed`` readers (``rt.dlq.reason=decode``);
- its invocation ended with a failure (terminal error, retries exhausted,
  killed): the partition processor stores a pending item in the partition's
  ``dlq`` hash atomically with the completion (an outbox) and produces it once
  applied; the item is deleted after the broker acknowledged it and re-sent by
  a new owner otherwise — at least once, deduplicate on ``rt.dlq.invocation.id``
  (``rt.dlq.reason=failed``). Pending items and the record's value (the
  journal's input entry) are read through the read model
  (``runtime.state.reads.StateReads``).

Headers: ``rt.dlq.reason``, ``rt.dlq.error``, ``rt.dlq.code`` (failures),
``rt.dlq.invocation.id`` (failures), ``rt.dlq.subscription``, the source
coordinates ``kafka.topic``/``kafka.partition``/``kafka.offset``, and the
record's own headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from confluent_kafka import KafkaError, Message, Producer

from runtime.log import records
from runtime.metrics import DEAD_LETTERS
from runtime.partition.housekeeping import forget_sent
from runtime.subscriptions.mapping import (
    H_KEY,
    H_OFFSET,
    H_PARTITION,
    H_SUBSCRIPTION,
    H_TOPIC,
    SourceRecord,
    decode_key,
)
from sdk import engine as sj

if TYPE_CHECKING:  # redis stays out of the intake child's imports (its start-up time)
    import redis.asyncio as aioredis

    from runtime.partition.status import InvocationStatus
    from runtime.state.keys import PartitionKeys
    from runtime.state.reads import StateReads

log = logging.getLogger("rt.subscriptions.dlq")

H_REASON = "rt.dlq.reason"
H_ERROR = "rt.dlq.error"
H_CODE = "rt.dlq.code"
H_INVOCATION = "rt.dlq.invocation.id"
H_SUB = "rt.dlq.subscription"

Headers = list[tuple[str, str | bytes | None]]


def decode_failure_headers(sub_id: str, rec: SourceRecord, error: str) -> Headers:
    """Headers of a record the intake could not decode."""
    out: Headers = [(k, v or b"") for k, v in rec.headers]
    out += [
        (H_REASON, b"decode"),
        (H_ERROR, error.encode()),
        (H_SUB, sub_id.encode()),
        (H_TOPIC, rec.topic.encode()),
        (H_PARTITION, str(rec.partition).encode()),
        (H_OFFSET, str(rec.offset).encode()),
    ]
    return out


def failed_invocation_headers(
    invocation_id: str, headers: Mapping[str, str], failure: records.Failure
) -> Headers:
    """Headers of a record whose invocation failed (``headers`` = the invocation's headers)."""
    out: Headers = [(k, v.encode()) for k, v in headers.items() if k != H_SUBSCRIPTION]
    out += [
        (H_REASON, b"failed"),
        (H_ERROR, failure.message.encode()),
        (H_CODE, str(failure.code).encode()),
        (H_INVOCATION, invocation_id.encode()),
        (H_SUB, headers.get(H_SUBSCRIPTION, "").encode()),
    ]
    return out


class DlqItem(msgspec.Struct, frozen=True, array_like=True):
    """A pending dead-letter record in a partition's Redis hash (NEVER CHANGE field order)."""

    topic: str
    invocation_id: str
    code: int
    message: str
    headers: dict[str, str]


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(DlqItem)


class DlqOutbox:
    """Produces dead letters of failed subscription invocations.

    Implements the partition's ``DeadLetters`` hook: the partition machine stores
    :meth:`pending` with the completion (an op of its apply), the processor calls
    :meth:`send` after the apply while it leads, and :meth:`flush` when it starts
    to lead (re-sends what a previous owner left pending).

    Args:
        kafka_config: For the idempotent producer of dead letters.
        reads: The read model: pending items, the failed invocation's input.
        redis: Deletes an item once the broker acknowledged it (the one write).
    """

    def __init__(
        self, kafka_config: dict[str, Any], reads: StateReads, redis: aioredis.Redis
    ) -> None:
        self._reads = reads
        self._redis = redis
        self._producer = Producer(
            {
                **kafka_config,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "log_level": 2,
            }
        )
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="rt-dlq-producer", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    @staticmethod
    def pending(st: InvocationStatus, failure: records.Failure) -> tuple[str, bytes]:
        """The (field, blob) to store with the completion of ``st``."""
        assert st.dlq is not None
        item = DlqItem(st.dlq, st.invocation_id, failure.code, failure.message, dict(st.headers))
        blob = _enc.encode(item)
        return hashlib.blake2b(blob, digest_size=12).hexdigest(), blob

    def send(self, keys: PartitionKeys, field_: str, blob: bytes) -> None:
        """Produce one pending dead letter (an effect of the partition's leader: runs after
        the completion is applied)."""
        asyncio.get_running_loop().create_task(self._send(keys, field_, _dec.decode(blob)))

    async def flush(self, keys: PartitionKeys) -> None:
        """Re-send every pending dead letter of a partition (on becoming its leader)."""
        items = await self._reads.pending_dead_letters(keys.partition)
        for f, blob in items.items():
            await self._send(keys, f, _dec.decode(blob))

    async def _send(self, keys: PartitionKeys, field_: str, item: DlqItem) -> None:
        try:
            value = await self._input_of(item.invocation_id)
            key_text = item.headers.get(H_KEY)
            key = decode_key(key_text) if key_text is not None else None
            headers = failed_invocation_headers(
                item.invocation_id, item.headers, records.Failure(item.code, item.message)
            )
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()

            def delivered(err: KafkaError | None, msg: Message) -> None:
                if err is None:
                    loop.call_soon_threadsafe(_finish, done, None)
                else:
                    loop.call_soon_threadsafe(_finish, done, RuntimeError(str(err)))

            self._producer.produce(
                item.topic, value=value, key=key, headers=list(headers), on_delivery=delivered
            )
            await done
            DEAD_LETTERS.inc()
            # Outside the fenced apply: safe for a stale owner too (at worst a new owner
            # sends the dead letter again; runtime.partition.housekeeping says why).
            await forget_sent(self._redis, keys.dlq, field_)
        except Exception:  # noqa: BLE001 - stays pending; re-sent by the next leader
            log.exception("dead letter of %s to %s failed", item.invocation_id, item.topic)

    async def _input_of(self, invocation_id: str) -> bytes | None:
        """The original record value (the journal's input entry); None if already expired."""
        first = await self._reads.first_journal_entry(invocation_id)
        if first is None:
            return None
        entry = sj.decode_entry(first)
        return entry.body if isinstance(entry, sj.InputCommand) else None

    def close(self) -> None:
        self._producer.flush(10)
        self._closed.set()
        self._thread.join(5)


def _finish(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
