"""OutboxItem stays readable across the added ``seq`` field (it is stored in Redis)."""

from __future__ import annotations

import msgspec

from runtime.partition.processor import OutboxItem


def test_items_written_before_seq_existed_decode_with_seq_zero() -> None:
    old = msgspec.msgpack.encode([3, b"key", b"rec"])
    item = msgspec.msgpack.decode(old, type=OutboxItem)
    assert item == OutboxItem(3, b"key", b"rec", 0)


def test_seq_round_trips_and_orders() -> None:
    items = [OutboxItem(0, b"", b"kill", 20), OutboxItem(0, b"", b"invoke", 10)]
    blobs = [msgspec.msgpack.encode(i) for i in items]
    decoded = sorted(
        (msgspec.msgpack.decode(b, type=OutboxItem) for b in blobs), key=lambda i: i.seq
    )
    assert [i.record for i in decoded] == [b"invoke", b"kill"]
