"""The intake's per-record hot path: a consumed message → (log partition, key, Invoke bytes).

Produces exactly what :func:`mapping.build_invoke` + :func:`records.encode` produce
(``tests/unit/subscriptions/test_fastpath.py`` compares them record by record),
but with everything that is constant per subscription, per source partition or
per key computed once:

- the id digest's prefix per source partition (sha256 state copied per record);
- the base62 text of the 160-bit id with an unrolled, table-driven conversion
  instead of a digit loop;
- per key: routing hash, log partition, routing key, object key, its base64
  header and the :class:`records.Target` (bounded cache);
- no :class:`SourceRecord` for records without headers.

Anything unusual (workflow run handlers, record headers, an undecodable key)
takes the reference path in :mod:`mapping`, so the contract lives in one place.
"""

from __future__ import annotations

import hashlib
from typing import Any

from confluent_kafka import Message

from runtime.log import records
from runtime.subscriptions import mapping
from runtime.subscriptions.mapping import KeyError_, SinkTarget
from sdk._ids import INVOCATION_PREFIX, keyed_routing_key, routing_hash

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_B2 = 3844  # 62 ** 2
_KEY_CACHE = 100_000


def b62_27(n: int) -> str:
    """27 base62 digits of ``n`` < 62**27, zero-padded (as ``sdk._ids._b62encode(.., 27)``).

    Unrolled: 13 two-digit steps and a last single digit, no loop, no strip/pad.
    """
    p = _PAIRS
    n, d13 = divmod(n, _B2)
    n, d12 = divmod(n, _B2)
    n, d11 = divmod(n, _B2)
    n, d10 = divmod(n, _B2)
    n, d9 = divmod(n, _B2)
    n, d8 = divmod(n, _B2)
    n, d7 = divmod(n, _B2)
    n, d6 = divmod(n, _B2)
    n, d5 = divmod(n, _B2)
    n, d4 = divmod(n, _B2)
    n, d3 = divmod(n, _B2)
    n, d2 = divmod(n, _B2)
    n, d1 = divmod(n, _B2)
    return "".join(
        (
            _ALPHABET[n],
            p[d1], p[d2], p[d3], p[d4], p[d5], p[d6], p[d7],
            p[d8], p[d9], p[d10], p[d11], p[d12], p[d13],
        )
    )  # fmt: skip


def _part(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


class _Keyed:
    """What one record key maps to (constant for the subscription)."""

    __slots__ = ("b64", "log_partition", "rhash_bytes", "routing_key", "target")

    def __init__(self, sink: SinkTarget, key: bytes, partitions: int) -> None:
        text = key.decode("utf-8")  # UnicodeDecodeError: the caller takes the reference path
        rk = keyed_routing_key(sink.service, text)
        rhash = routing_hash(rk)
        self.rhash_bytes = rhash << 128
        self.log_partition = rhash % partitions
        self.routing_key = rk
        self.b64 = mapping.encode_key(key)
        self.target = records.Target(sink.service, sink.handler, text, sink.kind)


class InvokeEncoder:
    """One subscription's records → encoded Invokes, identical to the reference path."""

    def __init__(
        self, sub_id: str, topic: str, sink: SinkTarget, partitions: int, dlq: str | None
    ) -> None:
        self._sub_id = sub_id
        self._topic = topic
        self._sink = sink
        self._partitions = partitions
        self._dlq = dlq
        self._ids = mapping.IdMaker(sub_id, topic, sink.service, partitions)
        self._prefix = hashlib.sha256(
            _part(b"sub") + _part(sub_id.encode()) + _part(topic.encode())
        )
        self._by_partition: dict[int, tuple[Any, str]] = {}
        self._keys: dict[bytes, _Keyed] = {}
        self._keyed = sink.kind != "service"
        self._fast = sink.kind != "workflow"
        self._service_target = records.Target(sink.service, sink.handler, None, sink.kind)

    def _partition(self, p: int) -> tuple[Any, str]:
        got = self._by_partition.get(p)
        if got is None:
            text = str(p)
            h = self._prefix.copy()
            h.update(_part(text.encode()))
            got = self._by_partition[p] = (h, text)
        return got

    def _key(self, key: bytes) -> _Keyed:
        k = self._keys.get(key)
        if k is None:
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            k = self._keys[key] = _Keyed(self._sink, key, self._partitions)
        return k

    def encode(self, m: Message, body: bytes, now_ms: int) -> tuple[int, bytes, bytes]:
        """(rt.log partition, record key, encoded Invoke) for a decoded message.

        Raises:
            KeyError_: The record key is not UTF-8 (a keyed sink needs a text key).
        """
        key = m.key()
        if not self._fast or m.headers() or (self._keyed and not isinstance(key, bytes)):
            return self._reference(m, body, now_ms)
        p = m.partition() or 0
        offset = m.offset() or 0
        base, p_text = self._partition(p)
        h = base.copy()
        o_text = str(offset)
        h.update(_part(o_text.encode()))
        uuid_part = h.digest()[:16]
        headers = {
            mapping.H_OFFSET: o_text,
            mapping.H_TOPIC: self._topic,
            mapping.H_PARTITION: p_text,
        }
        ts_type, ts = m.timestamp()
        if ts_type != 0 and ts >= 0:
            headers[mapping.H_TIMESTAMP] = str(ts)
        if self._keyed:
            assert isinstance(key, bytes)
            try:
                k = self._key(key)
            except UnicodeDecodeError:
                raise KeyError_(
                    "record key is not valid UTF-8; it cannot be an object key"
                ) from None
            headers[mapping.H_KEY] = k.b64
            inv_id = INVOCATION_PREFIX + b62_27(k.rhash_bytes | int.from_bytes(uuid_part, "big"))
            target, part, rk = k.target, k.log_partition, k.routing_key
        else:
            if isinstance(key, bytes):
                headers[mapping.H_KEY] = mapping.encode_key(key)
            rhash = routing_hash(uuid_part)
            inv_id = INVOCATION_PREFIX + b62_27((rhash << 128) | int.from_bytes(uuid_part, "big"))
            target, part, rk = self._service_target, rhash % self._partitions, inv_id.encode()
        headers[mapping.H_SUBSCRIPTION] = self._sub_id
        invoke = records.Invoke(
            invocation_id=inv_id,
            target=target,
            input=body,
            headers=headers,
            source="subscription",
            send=True,
            created_at_ms=now_ms,
            dlq=self._dlq,
        )
        return part, rk, records.encode(invoke)

    def _reference(self, m: Message, body: bytes, now_ms: int) -> tuple[int, bytes, bytes]:
        from runtime.subscriptions.intake import source_record

        part, rk, invoke = mapping.build_invoke(
            self._sub_id,
            self._sink,
            source_record(m),
            body,
            partitions=self._partitions,
            dlq=self._dlq,
            now_ms=now_ms,
            ids=self._ids,
        )
        return part, rk, records.encode(invoke)
