"""The intake hot path encodes exactly what the reference mapping encodes (ids are a contract)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from confluent_kafka import Message

from runtime.log import records
from runtime.subscriptions.fastpath import InvokeEncoder, b62_27
from runtime.subscriptions.intake import source_record
from runtime.subscriptions.mapping import KeyError_, SinkTarget, build_invoke
from sdk._ids import _b62encode

SINKS = [
    SinkTarget("Orders", "process", "exclusive"),
    SinkTarget("Orders", "peek", "shared"),
    SinkTarget("Audit", "log", "service"),
    SinkTarget("Flow", "run", "workflow"),
]


def reference(sink: SinkTarget, m: Message, dlq: str | None) -> tuple[int, bytes, bytes]:
    part, key, invoke = build_invoke(
        "sub1", sink, source_record(m), m.value() or b"", partitions=8, dlq=dlq, now_ms=42
    )
    return part, key, records.encode(invoke)


def messages() -> list[Message]:
    out = []
    for i in range(400):
        kw: dict[str, Any] = {"topic": "src", "partition": i % 5, "offset": i * 7919, "value": b"1"}
        if i % 3:
            kw["key"] = f"k{i % 37}".encode()
        if i % 4 == 0:
            kw["timestamp"] = (1, 1_700_000_000_000 + i)
        if i % 11 == 0:
            kw["headers"] = [("trace", b"x"), ("kafka.offset", b"spoof")]
        out.append(Message(**kw))
    out.append(Message(topic="src", partition=0, offset=2**40, key=b"\xe2\x82\xac", value=b"1"))
    return out


def test_b62_matches_the_sdk_encoding() -> None:
    for n in [
        0,
        1,
        61,
        62,
        2**160 - 1,
        *(int.from_bytes(os.urandom(20), "big") for _ in range(500)),
    ]:
        assert b62_27(n) == _b62encode(n.to_bytes(20, "big"), 27)


@pytest.mark.parametrize("sink", SINKS, ids=lambda s: s.kind)
@pytest.mark.parametrize("dlq", [None, "dead"])
def test_encoder_equals_the_reference_mapping(sink: SinkTarget, dlq: str | None) -> None:
    enc = InvokeEncoder("sub1", "src", sink, 8, dlq)
    for m in messages():
        try:
            want = reference(sink, m, dlq)
        except KeyError_:
            with pytest.raises(KeyError_):
                enc.encode(m, m.value() or b"", 42)
            continue
        assert enc.encode(m, m.value() or b"", 42) == want


def test_keyed_sinks_refuse_non_utf8_keys() -> None:
    enc = InvokeEncoder("sub1", "src", SINKS[0], 8, None)
    with pytest.raises(KeyError_):
        enc.encode(Message(topic="src", partition=0, offset=1, key=b"\xff", value=b"1"), b"1", 0)
