"""Pins the rt.log record encoding (NEVER CHANGE) and the status state machine."""

from __future__ import annotations

import msgspec
import pytest

from runtime.log import records
from runtime.partition.status import (
    IllegalTransition,
    InvocationStatus,
    Status,
    decode_status,
    encode_status,
)


def test_invoke_encoding_is_pinned() -> None:
    rec = records.Invoke(
        invocation_id="inv_x",
        target=records.Target("Counter", "add", "k", "exclusive"),
        input=b"1",
        created_at_ms=5,
    )
    data = records.encode(rec)
    assert records.decode(data) == rec
    raw = msgspec.msgpack.decode(data)
    assert raw[0] == "invoke"
    assert raw[1] == "inv_x"
    assert raw[2] == ["Counter", "add", "k", "exclusive"]


@pytest.mark.parametrize(
    "rec",
    [
        records.AnnounceLeader(3, "w1"),
        records.AppendJournal("inv_x", 3, 1, [b"a", b"b"]),
        records.PinDeployment("inv_x", 3, 1, "dp_x", [b"a"], 1),
        records.Complete("inv_x", 2, value=b"v"),
        records.Complete("inv_x", 2, failure=records.Failure(409, "no", {"a": "b"})),
        records.Suspend("inv_x", 1, 2, [3, 4]),
        records.AttemptFailed("inv_x", 1, 2, 500, "boom", 1234),
        records.Cancel("inv_x"),
        records.Kill("inv_x"),
        records.Purge("inv_x"),
        records.Pause("inv_x"),
        records.Resume("inv_x"),
        records.Resume("inv_x", "dp_x"),
        records.AttemptFailed(
            "inv_x", 1, 2, 500, "boom", None, True, records.FailureDetail("tb", 3, "charge", 4)
        ),
        records.RestartAsNew(
            records.Invoke("inv_y", records.Target("S", "h"), b"in", fresh_id=True),
            "inv_x",
            [b"a", b"b"],
            "dp_x",
        ),
        records.TimerFired(2, b"t"),
        records.Attach("inv_x", records.IngressSink("i", "r")),
        records.SetObjectState("Counter", "k", {"count": b"1"}),
        records.SubscriptionBatch(
            "s1",
            "orders",
            3,
            records.Target("Counter", "add", None, "exclusive"),
            7,
            "orders.dlq",
            [
                records.SourceEntry(5, b"1"),
                records.SourceEntry(6, b"2", b"k", 99, (("h", b"v"), ("n", None))),
            ],
        ),
    ],
)
def test_every_record_round_trips(rec: records.Record) -> None:
    assert records.decode(records.encode(rec)) == rec


def test_subscription_batch_encoding_is_pinned() -> None:
    rec = records.SubscriptionBatch(
        "s1", "orders", 3, records.Target("C", "add", None, "exclusive"), 7, None,
        [records.SourceEntry(5, b"1", b"k", 99, (("h", b"v"),))],
    )  # fmt: skip
    raw = msgspec.msgpack.decode(records.encode(rec))
    assert raw == [
        "subbatch", "s1", "orders", 3, ["C", "add", None, "exclusive"], 7, None,
        [[5, b"1", b"k", 99, [["h", b"v"]]]],
    ]  # fmt: skip


def test_pin_deployment_encoding_is_pinned() -> None:
    raw = msgspec.msgpack.decode(
        records.encode(records.PinDeployment("inv_x", 3, 1, "dp_x", [b"a"], 1))
    )
    assert raw == ["pin", "inv_x", 3, 1, "dp_x", [b"a"], 1]


def test_control_record_encodings_are_pinned() -> None:
    def raw(rec: records.Record) -> object:
        return msgspec.msgpack.decode(records.encode(rec))

    assert raw(records.Pause("inv_x")) == ["pause", "inv_x"]
    assert raw(records.Resume("inv_x", "dp_x")) == ["resume", "inv_x", "dp_x"]
    restart = records.RestartAsNew(
        records.Invoke("inv_y", records.Target("S", "h"), b"in"), "inv_x", [b"a"], None
    )
    encoded = raw(restart)
    assert isinstance(encoded, list) and encoded[0] == "restart"
    assert encoded[1][:4] == ["invoke", "inv_y", ["S", "h", None, "service"], b"in"]
    assert encoded[2:] == ["inv_x", [b"a"], None]
    failed = records.AttemptFailed(
        "inv_x", 1, 2, 500, "boom", None, True, records.FailureDetail("tb", 3, "c", 4)
    )
    assert raw(failed) == ["failed", "inv_x", 1, 2, 500, "boom", None, True, ["tb", 3, "c", 4]]


def test_a_long_stack_trace_keeps_its_end() -> None:
    trace = "x" * 10 + "y" * records.STACKTRACE_MAX_CHARS
    d = records.failure_detail(trace, None)
    assert d is not None and d.stacktrace == "...\n" + "y" * records.STACKTRACE_MAX_CHARS
    assert records.failure_detail(None, None) is None
    assert records.failure_detail("", 2) == records.FailureDetail(None, 2)


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        records.decode(b"\x00garbage")


def _status() -> InvocationStatus:
    return InvocationStatus(
        "inv_x", records.Target("S", "h"), Status.SCHEDULED, created_ms=1, modified_ms=1
    )


def test_status_round_trips() -> None:
    st = _status()
    assert decode_status(encode_status(st)) == st


def test_illegal_transitions_are_refused() -> None:
    st = _status()
    st.move(Status.INVOKED, 2)
    st.move(Status.SUSPENDED, 3)
    st.move(Status.PAUSED, 3)  # an operator pauses a suspended invocation
    st.move(Status.INVOKED, 3)  # and resumes it
    st.move(Status.BACKING_OFF, 3)
    st.move(Status.PAUSED, 3)
    st.move(Status.INVOKED, 3)
    st.move(Status.SUSPENDED, 3)
    st.move(Status.INVOKED, 4)
    st.move(Status.COMPLETED, 5)
    with pytest.raises(IllegalTransition, match="completed -> invoked"):
        st.move(Status.INVOKED, 6)
    fresh = _status()
    with pytest.raises(IllegalTransition):
        fresh.move(Status.SUSPENDED, 2)


def test_undecodable_records_are_told_apart_foreign_from_unreadable() -> None:
    for foreign in (b"", b'{"a": 1}', b"5", msgspec.msgpack.encode({"a": 1}), b"\x00garbage"):
        with pytest.raises(records.ForeignRecordError):
            records.decode_checked(foreign)
    with pytest.raises(records.UnreadableRecordError, match="an rt 'invoke' record"):
        records.decode_checked(msgspec.msgpack.encode(["invoke", 1]))
    with pytest.raises(records.UnreadableRecordError, match="unknown type 'future'"):
        records.decode_checked(msgspec.msgpack.encode(["future", 1, 2]))
    rec = records.Purge("inv_1")
    assert records.decode_checked(records.encode(rec)) == rec
    assert "invoke" in records.TAGS and "leader" in records.TAGS
