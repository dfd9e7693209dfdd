"""The egress outbox of one partition: records applied from the journal, not yet written.

It lives in Redis (``PartitionKeys.egress``, written in the partition's atomic
apply) and in the partition machine's memory, which the egress sender
(``runtime.egress.sender``) reads. The field of an entry is its log position
(``offset.entry``), zero-padded so sorting the fields restores log order.
Owns the entry format (NEVER CHANGE) and the in-memory mirror; may not send.
"""

from __future__ import annotations

import msgspec


class EgressItem(msgspec.Struct, frozen=True, array_like=True):
    """One record to write to a user topic. NEVER CHANGE (stored in Redis)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] = {}
    invocation_id: str = ""


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(EgressItem)


def encode_item(item: EgressItem) -> bytes:
    return _enc.encode(item)


def decode_item(blob: bytes) -> EgressItem:
    return _dec.decode(blob)


def position_field(offset: int, entry: int) -> str:
    """The outbox field of the ``entry``-th emit of the record at ``offset``. NEVER CHANGE."""
    return f"{offset:020d}.{entry:06d}"


class EgressOutbox:
    """In-memory mirror of the Redis outbox, in log order, plus what is being sent."""

    def __init__(self) -> None:
        self.pending: dict[str, EgressItem] = {}
        self.sent: set[str] = set()
        """Fields in a transaction this process committed (or is committing): never resent
        by this process; their ``EgressDone`` removes them."""

    def load(self, raw: dict[bytes, bytes]) -> None:
        for f in sorted(raw):
            self.pending[f.decode()] = decode_item(raw[f])

    def add(self, field: str, item: EgressItem) -> None:
        self.pending[field] = item

    def done(self, fields: list[str]) -> list[str]:
        """Forget ``fields``; returns those that were pending."""
        gone = []
        for f in fields:
            if self.pending.pop(f, None) is not None:
                gone.append(f)
            self.sent.discard(f)
        return gone

    def unsent(self, limit: int) -> list[tuple[str, EgressItem]]:
        out = []
        for f, item in self.pending.items():
            if f not in self.sent:
                out.append((f, item))
                if len(out) >= limit:
                    break
        return out
