"""Pins the op wire format shared with lua/apply.lua, and the store's pure pieces."""

from __future__ import annotations

import msgspec
import pytest

from runtime.state.store import (
    ApplyResult,
    Delete,
    FencedError,
    HDel,
    HSet,
    LPop,
    LRem,
    Op,
    PExpire,
    RPush,
    Set,
    StoreError,
    ZAdd,
    ZRem,
)

ALL_OPS: list[tuple[Op, list[object]]] = [
    (Set("k", b"v"), [1, "k", b"v"]),
    (Delete("k"), [2, "k"]),
    (HSet("k", "f", b"v"), [3, "k", "f", b"v"]),
    (HDel("k", b"f"), [4, "k", b"f"]),
    (RPush("k", [b"a", b"b"]), [5, "k", [b"a", b"b"]]),
    (LPop("k"), [6, "k"]),
    (LRem("k", b"v"), [7, "k", b"v", 0]),
    (ZAdd("k", 1.5, b"m"), [8, "k", 1.5, b"m"]),
    (ZRem("k", b"m"), [9, "k", b"m"]),
    (PExpire("k", 1000), [10, "k", 1000]),
]


@pytest.mark.parametrize(("op", "wire"), ALL_OPS, ids=lambda x: type(x).__name__)
def test_op_wire_format_is_pinned(op: Op, wire: list[object]) -> None:
    """The Lua script decodes exactly [tag, key, fields...] in this order, with these tags."""
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(op)) == wire


def test_fixed_field_count_per_tag() -> None:
    """lua/apply.lua checks the fixarray header byte of each tag (0x90 + 1 + field count)."""
    headers = {
        1: 0x93,
        2: 0x92,
        3: 0x94,
        4: 0x93,
        5: 0x93,
        6: 0x92,
        7: 0x94,
        8: 0x94,
        9: 0x93,
        10: 0x93,
    }
    for op, wire in ALL_OPS:
        assert msgspec.msgpack.encode(op)[0] == headers[wire[0]]  # type: ignore[index]


def test_ops_are_immutable() -> None:
    op = Set("k", b"v")
    with pytest.raises(AttributeError):
        op.key = "x"  # type: ignore[misc]


def test_apply_result() -> None:
    assert ApplyResult.ALREADY_APPLIED.already_applied
    assert not ApplyResult.APPLIED.already_applied


def test_fenced_error_explains() -> None:
    e = FencedError(7, 3, 4)
    assert isinstance(e, StoreError)
    assert (e.partition, e.epoch, e.current_epoch) == (7, 3, 4)
    assert "partition 7" in str(e) and "epoch 3" in str(e) and "epoch 4" in str(e)
    assert "another owner" in str(e)
    assert "lost" in str(FencedError(7, 5, 2))
