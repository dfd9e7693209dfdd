"""Source record → Invoke record: the pure part of exactly-once intake (no I/O).

The invocation id is :func:`sdk.ids.subscription_invocation_id` of
(subscription id, topic, partition, offset): the same source record always
yields the same id, so a record appended twice (a retried transaction) is
deduplicated by the partition processor. A workflow's run handler is the
exception: its id is the workflow's own (one run per workflow id). NEVER CHANGE the id inputs or the
header names below: they are a contract with users and with stored data.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from runtime.log import records
from sdk.ids import (
    keyed_routing_key,
    make_invocation_id,
    routing_hash,
    workflow_invocation_id,
)

H_OFFSET = "kafka.offset"
H_TOPIC = "kafka.topic"
H_PARTITION = "kafka.partition"
H_TIMESTAMP = "kafka.timestamp"
H_KEY = "kafka.key"
"""Base64url of the record key (Restate's format), absent for a null key."""
H_SUBSCRIPTION = "restate.subscription.id"
_RESERVED = ("kafka.", "restate.")


@dataclass(frozen=True)
class SourceRecord:
    """What intake needs of a consumed record (decoupled from confluent-kafka's Message)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True)
class SinkTarget:
    """The subscription's handler, with its kind fixed when the subscription starts."""

    service: str
    handler: str
    kind: records.TargetKind


class KeyError_(ValueError):
    """The record key cannot be an object key (not UTF-8)."""


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


def invocation_headers(sub_id: str, rec: SourceRecord) -> dict[str, str]:
    """Headers the handler sees in ``ctx.request().headers``: metadata plus record headers."""
    out: dict[str, str] = {}
    for name, value in rec.headers:
        if name.startswith(_RESERVED):
            continue  # metadata names cannot be spoofed by a producer
        out[name] = (value or b"").decode("utf-8", errors="replace")
    out[H_OFFSET] = str(rec.offset)
    out[H_TOPIC] = rec.topic
    out[H_PARTITION] = str(rec.partition)
    if rec.timestamp_ms is not None:
        out[H_TIMESTAMP] = str(rec.timestamp_ms)
    if rec.key is not None:
        out[H_KEY] = encode_key(rec.key)
    out[H_SUBSCRIPTION] = sub_id
    return out


def object_key(rec: SourceRecord) -> str:
    """The record key as an object key: UTF-8 text, a null key is ``""`` (as Restate)."""
    if rec.key is None:
        return ""
    try:
        return rec.key.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyError_("record key is not valid UTF-8; it cannot be an object key") from None


def _part(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class IdMaker:
    """:func:`sdk.ids.subscription_invocation_id`, made fast for one (subscription, topic).

    Same ids (``tests/unit/subscriptions`` checks it against the sdk function): the
    digest's constant prefix is hashed once and copied, routing hashes are cached per
    key, and the partition comes from the hash instead of parsing the id back.
    """

    def __init__(self, sub_id: str, topic: str, service: str, partitions: int) -> None:
        self._prefix = hashlib.sha256(
            _part(b"sub") + _part(sub_id.encode()) + _part(topic.encode())
        )
        self._service = service
        self._partitions = partitions
        self._hashes: dict[str, int] = {}

    def make(
        self, partition: int, offset: int, key: str | None, workflow: bool = False
    ) -> tuple[str, int, bytes]:
        """Return (invocation id, rt.log partition, routing key).

        A workflow's run handler has one invocation per workflow id (invariant 7): its
        id is the workflow's, so a later record with the same key is a duplicate run
        submission that the processor ignores, as it does for the ingress.
        """
        if workflow and key is not None:
            inv_id = workflow_invocation_id(self._service, key)
            rk = keyed_routing_key(self._service, key)
            return inv_id, routing_hash(rk) % self._partitions, rk
        uuid_part = self.uuid_part(partition, offset)
        if key is None:
            rhash = routing_hash(uuid_part)
            inv_id = make_invocation_id(rhash, uuid_part)
            return inv_id, rhash % self._partitions, inv_id.encode()
        rhash = self.key_hash(key)
        inv_id = make_invocation_id(rhash, uuid_part)
        return inv_id, rhash % self._partitions, keyed_routing_key(self._service, key)

    def uuid_part(self, partition: int, offset: int) -> bytes:
        """The id's 128 random-looking bits: a digest of (subscription, topic, partition,
        offset). NEVER CHANGE."""
        h = self._prefix.copy()
        h.update(_part(str(partition).encode()) + _part(str(offset).encode()))
        return h.digest()[:16]

    def key_hash(self, key: str) -> int:
        """Routing hash of an object key of the sink's service (cached)."""
        rhash = self._hashes.get(key, -1)
        if rhash < 0:
            if len(self._hashes) > 100_000:
                self._hashes.clear()
            rhash = self._hashes[key] = routing_hash(keyed_routing_key(self._service, key))
        return rhash


def build_invoke(
    sub_id: str,
    sink: SinkTarget,
    rec: SourceRecord,
    body: bytes,
    *,
    partitions: int,
    dlq: str | None,
    now_ms: int,
    ids: IdMaker | None = None,
) -> tuple[int, bytes, records.Invoke]:
    """The Invoke for one record, with its rt.log partition and record key."""
    key = None if sink.kind == records.TargetKind.SERVICE else object_key(rec)
    if ids is None:
        ids = IdMaker(sub_id, rec.topic, sink.service, partitions)
    inv_id, log_partition, routing_key = ids.make(
        rec.partition, rec.offset, key, workflow=sink.kind == records.TargetKind.WORKFLOW
    )
    target = records.Target(sink.service, sink.handler, key, sink.kind)
    invoke = records.Invoke(
        invocation_id=inv_id,
        target=target,
        input=body,
        headers=invocation_headers(sub_id, rec),
        source=records.InvocationSource.SUBSCRIPTION,
        send=True,
        created_at_ms=now_ms,
        dlq=dlq,
    )
    return log_partition, routing_key, invoke


_ID_MAKERS: dict[tuple[str, str, str, int], IdMaker] = {}


def _id_maker(sub_id: str, topic: str, service: str, partitions: int) -> IdMaker:
    key = (sub_id, topic, service, partitions)
    ids = _ID_MAKERS.get(key)
    if ids is None:
        if len(_ID_MAKERS) >= 1_000:
            _ID_MAKERS.clear()
        ids = _ID_MAKERS[key] = IdMaker(sub_id, topic, service, partitions)
    return ids


def invokes_of(
    batch: records.SubscriptionBatch, partitions: int
) -> list[tuple[int, records.Invoke]]:
    """The Invokes a :class:`records.SubscriptionBatch` stands for, in order, each with
    its rt.log partition (that of the batch, unless intake routed it wrongly).

    Raises:
        KeyError_: An entry's key cannot be an object key (intake dead-letters those,
            so a batch never holds one).
    """
    t = batch.target
    sink = SinkTarget(t.service, t.handler, t.kind)
    ids = _id_maker(batch.subscription_id, batch.topic, t.service, partitions)
    out: list[tuple[int, records.Invoke]] = []
    for e in batch.entries:
        rec = SourceRecord(
            batch.topic, batch.partition, e.offset, e.key, e.input, e.timestamp_ms, e.headers
        )
        part, _, invoke = build_invoke(
            batch.subscription_id,
            sink,
            rec,
            e.input,
            partitions=partitions,
            dlq=batch.dlq,
            now_ms=batch.created_at_ms,
            ids=ids,
        )
        out.append((part, invoke))
    return out
