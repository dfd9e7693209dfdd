"""Intake's batch path yields exactly the Invokes of the reference mapping (ids are a contract).

Intake routes each record to a log partition (:class:`fastpath.Router`) and appends it
as a :class:`records.SubscriptionBatch` entry; the processor expands the batch with
:func:`mapping.invokes_of`. Both together must equal :func:`mapping.build_invoke` on
the record, record by record, or ids, routing or headers would drift.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from confluent_kafka import Message

from runtime.log import records
from runtime.subscriptions.fastpath import BatchEncoder, Router, entry
from runtime.subscriptions.intake import source_record
from runtime.subscriptions.mapping import KeyError_, SinkTarget, build_invoke, invokes_of

SINKS = [
    SinkTarget("Orders", "process", "exclusive"),
    SinkTarget("Orders", "peek", "shared"),
    SinkTarget("Audit", "log", "service"),
    SinkTarget("Flow", "run", "workflow"),
]


def messages() -> list[Message]:
    out = []
    for i in range(400):
        kw: dict[str, Any] = {"topic": "src", "partition": i % 5, "offset": i * 7919, "value": b"1"}
        if i % 3:
            kw["key"] = f"k{i % 37}".encode()
        if i % 4 == 0:
            kw["timestamp"] = (1, 1_700_000_000_000 + i)
        if i % 11 == 0:
            kw["headers"] = [("trace", b"x"), ("kafka.offset", b"spoof"), ("empty", None)]
        out.append(Message(**kw))
    out.append(Message(topic="src", partition=0, offset=2**40, key=b"\xe2\x82\xac", value=b"1"))
    return out


@pytest.mark.parametrize("sink", SINKS, ids=lambda s: s.kind)
@pytest.mark.parametrize("dlq", [None, "dead"])
def test_batches_expand_to_the_reference_invokes(sink: SinkTarget, dlq: str | None) -> None:
    router = Router("sub1", "src", sink, 8)
    enc = BatchEncoder("sub1", "src", sink, dlq)
    for m in messages():
        part, _, want = build_invoke(
            "sub1", sink, source_record(m), b"1", partitions=8, dlq=dlq, now_ms=42
        )
        e, _ = entry(m, b"1")
        assert router.partition(m.partition() or 0, e[0], e[2]) == part
        if router.cached is not None:
            assert router.cached[e[2]] == part
        # Through the log's encoding, as the processor sees it.
        batch = records.decode(enc.encode(m.partition() or 0, 42, [e]))
        assert isinstance(batch, records.SubscriptionBatch)
        assert invokes_of(batch, 8) == [(part, want)]


@pytest.mark.parametrize("sink", SINKS, ids=lambda s: s.kind)
def test_the_batch_encoder_writes_what_records_encode_writes(sink: SinkTarget) -> None:
    entries = [entry(m, m.value() or b"")[0] for m in messages()]
    want = records.SubscriptionBatch(
        "sub1", "src", 3, records.Target(sink.service, sink.handler, None, sink.kind), 42,
        "dead", [records.SourceEntry(*e) for e in entries],
    )  # fmt: skip
    assert BatchEncoder("sub1", "src", sink, "dead").encode(3, 42, entries) == records.encode(want)


def test_a_batch_keeps_entry_order() -> None:
    sink = SINKS[0]
    msgs = [Message(topic="src", partition=1, offset=o, key=b"k", value=b"1") for o in range(50)]
    data = BatchEncoder("sub1", "src", sink, None).encode(
        1, 1, [entry(m, b"%d" % i)[0] for i, m in enumerate(msgs)]
    )
    batch = records.decode(data)
    assert isinstance(batch, records.SubscriptionBatch)
    got = invokes_of(batch, 8)
    assert [inv.input for _, inv in got] == [b"%d" % i for i in range(50)]
    assert [inv.headers["kafka.offset"] for _, inv in got] == [str(o) for o in range(50)]
    assert len({inv.invocation_id for _, inv in got}) == 50
    assert all(inv.target.key == "k" and inv.target.kind == sink.kind for _, inv in got)


def test_keyed_sinks_refuse_non_utf8_keys() -> None:
    with pytest.raises(KeyError_):
        Router("sub1", "src", SINKS[0], 8).partition(0, 1, b"\xff")
    Router("sub1", "src", SINKS[2], 8).partition(0, 1, b"\xff")  # a service ignores keys


def test_entry_size_counts_input_key_and_headers() -> None:
    m = Message(topic="t", partition=0, offset=1, key=b"kk", value=b"x" * 100,
                headers=[("h", b"v" * 10)])  # fmt: skip
    e, size = entry(m, b"x" * 100)
    assert e[4] == (("h", b"v" * 10),)
    assert size >= len(msgspec.msgpack.encode(records.SourceEntry(*e))) - 10  # about its size
    assert size >= 100 + 2 + 11
