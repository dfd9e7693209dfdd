"""Dead-letter headers (a contract with DLQ readers) and the pending item's encoding."""

from __future__ import annotations

from runtime.log.records import Failure, Target
from runtime.partition.status import InvocationStatus, Status
from runtime.subscriptions.dlq import (
    DlqOutbox,
    _dec,
    decode_failure_headers,
    failed_invocation_headers,
)
from runtime.subscriptions.mapping import SourceRecord


def test_decode_failure_headers() -> None:
    r = SourceRecord("orders", 1, 7, b"k", b"{", None, (("trace", b"t"),))
    assert decode_failure_headers("sub_1", r, "value is not valid JSON") == [
        ("trace", b"t"),
        ("rt.dlq.reason", b"decode"),
        ("rt.dlq.error", b"value is not valid JSON"),
        ("rt.dlq.subscription", b"sub_1"),
        ("kafka.topic", b"orders"),
        ("kafka.partition", b"1"),
        ("kafka.offset", b"7"),
    ]


def test_failed_invocation_headers() -> None:
    headers = {"kafka.topic": "orders", "kafka.offset": "7", "restate.subscription.id": "sub_1"}
    out = dict(failed_invocation_headers("inv_x", headers, Failure(422, "no")))
    assert out == {
        "kafka.topic": b"orders",
        "kafka.offset": b"7",
        "rt.dlq.reason": b"failed",
        "rt.dlq.error": b"no",
        "rt.dlq.code": b"422",
        "rt.dlq.invocation.id": b"inv_x",
        "rt.dlq.subscription": b"sub_1",
    }


def test_pending_item_is_deterministic() -> None:
    st = InvocationStatus(
        "inv_x", Target("S", "h", "k", "exclusive"), Status.INVOKED, 1, 1,
        headers={"kafka.offset": "7"}, dlq="orders.dlq",
    )  # fmt: skip
    f1, blob = DlqOutbox.pending(st, Failure(500, "boom"))
    f2, _ = DlqOutbox.pending(st, Failure(500, "boom"))
    assert f1 == f2
    item = _dec.decode(blob)
    assert (item.topic, item.invocation_id, item.code, item.message) == (
        "orders.dlq", "inv_x", 500, "boom",
    )  # fmt: skip
