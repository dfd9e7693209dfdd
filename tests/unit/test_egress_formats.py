"""Pins the egress formats that outlive a process (NEVER CHANGE).

``sdk.kafka``'s and ``sdk.pipelines``' public names are pinned in tests/unit/sdk/test_exports.py.
"""

from __future__ import annotations

import msgspec

from runtime.egress.outbox import EgressItem, EgressOutbox, decode_item, encode_item, position_field
from runtime.egress.sender import transactional_id
from runtime.log import records
from runtime.state.keys import PartitionKeys
from sdk.engine import EmitCommand, encode_entry


def test_egress_done_record_is_pinned() -> None:
    rec = records.EgressDone(["00000000000000000007.000001"], "tok")
    data = records.encode(rec)
    assert records.decode(data) == rec
    assert msgspec.msgpack.decode(data) == ["egress", ["00000000000000000007.000001"], "tok"]


def test_outbox_layout_is_pinned() -> None:
    assert PartitionKeys("rt", 7).egress == "rt:{p7}:egress"
    assert position_field(7, 1) == "00000000000000000007.000001"
    assert transactional_id("rt", 3) == "rt.egress.3"
    item = EgressItem("t", b"k", b"v", {"h": b"1"}, "inv_x")
    assert msgspec.msgpack.decode(encode_item(item)) == ["t", b"k", b"v", {"h": b"1"}, "inv_x"]
    assert decode_item(encode_item(item)) == item


def test_emit_command_encoding_is_pinned() -> None:
    cmd = EmitCommand(topic="t", key=b"k", value=b"v")
    assert msgspec.msgpack.decode(encode_entry(cmd)) == {
        "type": "EmitCommand",
        "topic": "t",
        "key": b"k",
        "value": b"v",
    }


def test_outbox_orders_by_log_position_and_tracks_sent() -> None:
    box = EgressOutbox()
    box.load(
        {
            position_field(10, 0).encode(): encode_item(EgressItem("t", None, b"b")),
            position_field(9, 1).encode(): encode_item(EgressItem("t", None, b"a")),
        }
    )
    assert [i.value for _, i in box.unsent(10)] == [b"a", b"b"]
    box.sent.add(position_field(9, 1))
    assert [i.value for _, i in box.unsent(10)] == [b"b"]
    assert box.done([position_field(9, 1), "absent"]) == [position_field(9, 1)]
    assert box.sent == set()
