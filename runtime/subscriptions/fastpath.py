"""The intake's per-record hot path: a consumed message → (rt.log partition, batch entry).

Intake appends :class:`records.SubscriptionBatch` records, and the partition
processor expands each entry into the Invoke that :func:`mapping.build_invoke`
makes — ids, headers and targets stay defined in one place. All intake must
know per record is the log partition of that Invoke, and it must be exactly
build_invoke's (``tests/unit/subscriptions/test_fastpath.py`` compares them;
the processor refuses a misrouted entry). What is constant is computed once:

- keyed sinks (objects, workflows): routing key → partition per record key
  (bounded cache), which also checks that the key is UTF-8;
- service sinks: the id digest (``IdMaker.uuid_part``), whose hash gives the partition.
"""

from __future__ import annotations

from typing import Any

import msgspec
from confluent_kafka import Message

from runtime.log.records import TargetKind
from runtime.subscriptions.mapping import IdMaker, KeyError_, SinkTarget
from sdk.ids import routing_hash

_KEY_CACHE = 100_000
ENTRY_OVERHEAD = 24
"""Bytes an entry adds to a batch beyond its input, key and headers (msgpack framing)."""


class Router:
    """One subscription's records → their Invokes' rt.log partitions (as build_invoke's).

    The id digest and key routing are :class:`mapping.IdMaker`'s (one definition of
    the contract); this adds only a record-key → partition cache for keyed sinks.
    """

    def __init__(self, sub_id: str, topic: str, sink: SinkTarget, partitions: int) -> None:
        self._ids = IdMaker(sub_id, topic, sink.service, partitions)
        self._partitions = partitions
        self._keyed = sink.kind != TargetKind.SERVICE
        self._keys: dict[bytes | None, int] = {}
        self.cached: dict[bytes | None, int] | None = self._keys if self._keyed else None
        """Keyed sinks: record key → partition for keys seen (the hot loop reads it inline)."""

    def partition(self, source_partition: int, offset: int, key: bytes | None) -> int:
        """The rt.log partition of the record's Invoke.

        Raises:
            KeyError_: The sink is keyed and the record key is not UTF-8.
        """
        if self._keyed:
            part = self._keys.get(key)
            if part is None:
                part = self._keyed_partition(key)
            return part
        return routing_hash(self._ids.uuid_part(source_partition, offset)) % self._partitions

    def _keyed_partition(self, key: bytes | None) -> int:
        try:
            text = "" if key is None else key.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyError_("record key is not valid UTF-8; it cannot be an object key") from None
        if len(self._keys) >= _KEY_CACHE:
            self._keys.clear()
        part = self._keys[key] = self._ids.key_hash(text) % self._partitions
        return part


Entry = tuple[int, bytes, bytes | None, int | None, tuple[tuple[str, bytes | None], ...]]
"""A :class:`records.SourceEntry` as the tuple it encodes to (cheaper to build per record)."""


def entry(m: Message, body: bytes) -> tuple[Entry, int]:
    """The batch entry of a consumed message and its approximate encoded size."""
    key = m.key()
    if key is not None and not isinstance(key, bytes):
        key = str(key).encode()
    ts_type, ts = m.timestamp()
    raw: Any = m.headers()
    size = len(body) + ENTRY_OVERHEAD + (len(key) if key is not None else 0)
    stamp = ts if ts_type != 0 and ts >= 0 else None
    if not raw:
        return (m.offset() or 0, body, key, stamp, ()), size
    pairs = raw.items() if isinstance(raw, dict) else raw
    headers = tuple(
        (str(k), v if isinstance(v, bytes) or v is None else str(v).encode()) for k, v in pairs
    )
    size += sum(len(k) + len(v or b"") + 4 for k, v in headers)
    return (m.offset() or 0, body, key, stamp, headers), size


class BatchEncoder:
    """Encodes one subscription's entries as a :class:`records.SubscriptionBatch` record.

    Byte-identical to ``records.encode(SubscriptionBatch(...))`` (pinned by a test)
    without building a struct per entry.
    """

    def __init__(self, sub_id: str, topic: str, sink: SinkTarget, dlq: str | None) -> None:
        self._head = ("subbatch", sub_id, topic)
        self._target = (sink.service, sink.handler, None, sink.kind)
        self._dlq = dlq

    def encode(self, partition: int, created_at_ms: int, entries: list[Entry]) -> bytes:
        return _encoder.encode(
            (*self._head, partition, self._target, created_at_ms, self._dlq, entries)
        )


_encoder = msgspec.msgpack.Encoder()
