"""Subscription ids, option validation, source/sink parsing, record → Invoke mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.log import records
from runtime.log.producer import partition_of_invocation
from runtime.subscriptions.intake import group_id, transactional_id
from runtime.subscriptions.mapping import (
    IdMaker,
    KeyError_,
    SinkTarget,
    SourceRecord,
    build_invoke,
    decode_key,
    invocation_headers,
)
from runtime.subscriptions.model import (
    Subscription,
    SubscriptionError,
    new_subscription_id,
    parse_sink,
    parse_source,
    validate_options,
)
from sdk._ids import (
    keyed_routing_key,
    parse_invocation_id,
    routing_hash,
    subscription_invocation_id,
    workflow_invocation_id,
)

OBJ = SinkTarget("Orders", "process", "exclusive")
SVC = SinkTarget("Audit", "log", "service")


def rec(offset: int = 41, key: bytes | None = b"k", partition: int = 2) -> SourceRecord:
    return SourceRecord("orders", partition, offset, key, b"{}", 1_700_000_000_000, (("h", b"v"),))


def invoke(sink: SinkTarget, r: SourceRecord, sub: str = "sub_1") -> tuple[int, bytes, Any]:
    return build_invoke(sub, sink, r, b"{}", partitions=8, dlq=None, now_ms=1)


def test_invocation_ids_are_pinned() -> None:
    """NEVER CHANGE: re-appended records must find the ids already stored."""
    _, _, a = invoke(OBJ, rec())
    assert a.invocation_id == "inv_8NQonkA09StBKbRjAUPk3ob9EzB"
    _, _, b = invoke(SVC, rec())
    assert b.invocation_id == "inv_2Iq8EKSEouZHM9Yl1RMVjb78g2T"


def test_fast_ids_equal_the_sdk_contract() -> None:
    maker = IdMaker("sub_Z", "orders", "Orders", 8)
    for i in range(3000):
        key = None if i % 3 == 0 else f"key-{i % 97}"
        inv_id, part, rkey = maker.make(i % 5, i * 7919, key)
        assert inv_id == subscription_invocation_id(
            "sub_Z", "orders", i % 5, i * 7919, "Orders", key
        )
        assert part == partition_of_invocation(inv_id, 8)
        assert rkey == (inv_id.encode() if key is None else keyed_routing_key("Orders", key))


def test_workflow_run_records_use_the_workflow_id() -> None:
    wf = SinkTarget("Signup", "run", "workflow")
    part, key, inv = invoke(wf, rec(key=b"user-1"))
    assert inv.invocation_id == workflow_invocation_id("Signup", "user-1")
    assert invoke(wf, rec(key=b"user-1", offset=99))[2].invocation_id == inv.invocation_id
    assert key == keyed_routing_key("Signup", "user-1") and part == routing_hash(key) % 8
    shared = SinkTarget("Signup", "status", "shared")
    assert invoke(shared, rec(key=b"user-1"))[2].invocation_id != inv.invocation_id


def test_ids_depend_on_subscription_topic_partition_offset() -> None:
    base = invoke(OBJ, rec())[2].invocation_id
    assert invoke(OBJ, rec())[2].invocation_id == base
    assert invoke(OBJ, rec(offset=42))[2].invocation_id != base
    assert invoke(OBJ, rec(partition=3))[2].invocation_id != base
    assert invoke(OBJ, rec(), sub="sub_2")[2].invocation_id != base


def test_object_records_route_by_key_and_keep_it() -> None:
    part, key, inv = invoke(OBJ, rec(key=b"cust-7"))
    assert inv.target == records.Target("Orders", "process", "cust-7", "exclusive")
    assert key == keyed_routing_key("Orders", "cust-7")
    assert part == routing_hash(key) % 8
    assert parse_invocation_id(inv.invocation_id)[0] == routing_hash(key)
    assert inv.source == "subscription" and inv.send and inv.input == b"{}"


def test_service_records_spread_by_id() -> None:
    part, key, inv = invoke(SVC, rec())
    assert inv.target.key is None
    assert key == inv.invocation_id.encode()
    assert part == partition_of_invocation(inv.invocation_id, 8)


def test_null_key_is_empty_object_key_and_bad_utf8_is_refused() -> None:
    assert invoke(OBJ, rec(key=None))[2].target.key == ""
    with pytest.raises(KeyError_):
        invoke(OBJ, rec(key=b"\xff\xfe"))
    assert invoke(SVC, rec(key=b"\xff\xfe"))[2].target.key is None  # services need no key


def test_headers_carry_metadata_and_cannot_be_spoofed() -> None:
    r = SourceRecord(
        "orders", 2, 41, b"user-1", b"{}", 5, (("x-a", b"1"), ("kafka.offset", b"9"), ("n", None))
    )
    h = invocation_headers("sub_1", r)
    assert h == {
        "x-a": "1",
        "n": "",
        "kafka.offset": "41",
        "kafka.topic": "orders",
        "kafka.partition": "2",
        "kafka.timestamp": "5",
        "kafka.key": "dXNlci0x",
        "restate.subscription.id": "sub_1",
    }
    assert decode_key(h["kafka.key"]) == b"user-1"


def test_dlq_travels_on_the_invoke_and_round_trips() -> None:
    _, _, inv = build_invoke("s", OBJ, rec(), b"1", partitions=8, dlq="orders.dlq", now_ms=1)
    assert inv.dlq == "orders.dlq"
    assert records.decode(records.encode(inv)) == inv


def test_kafka_names_are_pinned() -> None:
    assert transactional_id("rt", "sub_X", 3) == "rt.sub.sub_X.3"
    assert group_id("rt", "sub_X") == "rt.sub.sub_X"


def test_subscription_ids() -> None:
    a, b = new_subscription_id(), new_subscription_id()
    assert a.startswith("sub_") and len(a) == 30 and a != b


@pytest.mark.parametrize(
    ("source", "expected"),
    [("kafka://default/orders", ("default", "orders")), ("kafka://c1/a.b-c_d", ("c1", "a.b-c_d"))],
)
def test_parse_source(source: str, expected: tuple[str, str]) -> None:
    assert parse_source(source) == expected


@pytest.mark.parametrize(
    "source",
    ["http://x/orders", "kafka://orders", "kafka:///orders", "kafka://c/", "kafka://c/a b"],
)
def test_bad_sources(source: str) -> None:
    with pytest.raises(SubscriptionError, match="bad source"):
        parse_source(source)


def test_parse_sink() -> None:
    assert parse_sink("service://Orders/process") == ("Orders", "process")
    for bad in ("Orders/process", "svc://Orders/process", "service://Orders", "service://A/b/c"):
        with pytest.raises(SubscriptionError, match="bad sink"):
            parse_sink(bad)


def test_options_valid() -> None:
    assert validate_options({}) == {}
    opts = {"auto.offset.reset": "earliest", "format": "raw", "dlq": "orders.dlq"}
    assert validate_options(opts) == opts
    assert validate_options({"dlq": "skip"}) == {"dlq": "skip"}
    schema = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    assert validate_options({"format": "avro", "avro.schema": schema})["format"] == "avro"
    # Any other librdkafka consumer property passes through to the source consumer.
    passed = validate_options({"fetch.min.bytes": 1024, "session.timeout.ms": "30000"})
    assert passed == {"fetch.min.bytes": "1024", "session.timeout.ms": "30000"}
    sub = Subscription("sub_1", "kafka://default/t", "service://S/h", {"dlq": "d", **passed})
    assert sub.consumer_options == passed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"group.id": "x"}, "option 'group.id' is set by rt"),
        ({"isolation.level": "read_uncommitted"}, "set by rt"),
        ({"sasl.password": "x"}, "set by rt"),
        ({"nope.prop": "1"}, "No such configuration property"),
        ({"fetch.min.bytes": "lots"}, "Invalid value"),
        ({"auto.offset.reset": "middle"}, "earliest or latest"),
        ({"format": "xml"}, "format must be one of"),
        ({"format": "avro"}, "format=avro needs"),
        ({"format": "json", "avro.schema": "{}"}, "only apply to format=avro"),
        ({"format": "avro", "avro.schema": '{"type": "nope"}'}, "invalid Avro schema"),
        ({"format": "avro", "avro.schema.file": "/nonexistent.avsc"}, "not found"),
        ({"format": "avro", "schema.registry.url": "ftp://x"}, "http(s)://"),
        ({"dlq": "bad topic!"}, "dlq must be a topic name"),
        ({"dlq": ["a"]}, "must be a string"),
    ],
)
def test_options_invalid(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SubscriptionError) as e:
        validate_options(options)
    assert message in e.value.message


def test_subscription_record_round_trip_and_accessors() -> None:
    sub = Subscription("sub_1", "kafka://default/orders", "service://Orders/process", {"dlq": "d"})
    assert Subscription.decode(sub.encode()) == sub
    assert sub.registry_key() == b"subscription/sub_1"
    assert (sub.topic, sub.service, sub.handler, sub.dlq) == ("orders", "Orders", "process", "d")
    assert sub.offset_reset == "latest" and sub.format == "json"
    assert Subscription("s", "kafka://d/t", "service://A/b", {"dlq": "skip"}).dlq is None
