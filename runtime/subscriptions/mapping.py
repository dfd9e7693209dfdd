"""Source record → Invoke record: the pure part of exactly-once intake (no I/O).

The invocation id is :func:`sdk._ids.subscription_invocation_id` of
(subscription id, topic, partition, offset): the same source record always
yields the same id, so a record appended twice (a retried transaction) is
deduplicated by the partition processor. NEVER CHANGE the id inputs or the
header names below: they are a contract with users and with stored data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from runtime.log import records
from runtime.log.producer import partition_of_invocation
from runtime.log.routing import routing_key_of
from sdk._ids import subscription_invocation_id

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
    kind: str
    """``service`` | ``exclusive`` | ``shared`` | ``workflow`` (as in :class:`records.Target`)."""


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


def build_invoke(
    sub_id: str,
    sink: SinkTarget,
    rec: SourceRecord,
    body: bytes,
    *,
    partitions: int,
    dlq: str | None,
    now_ms: int,
) -> tuple[int, bytes, records.Invoke]:
    """The Invoke for one record, with its rt.log partition and record key."""
    key = None if sink.kind == "service" else object_key(rec)
    inv_id = subscription_invocation_id(
        sub_id, rec.topic, rec.partition, rec.offset, sink.service, key
    )
    target = records.Target(sink.service, sink.handler, key, sink.kind)
    invoke = records.Invoke(
        invocation_id=inv_id,
        target=target,
        input=body,
        headers=invocation_headers(sub_id, rec),
        source="subscription",
        send=True,
        created_at_ms=now_ms,
        dlq=dlq,
    )
    return partition_of_invocation(inv_id, partitions), routing_key_of(target, inv_id), invoke
