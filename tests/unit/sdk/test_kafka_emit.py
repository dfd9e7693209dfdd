"""``sdk.kafka.emit``: journaled egress records, serdes and clear errors."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pydantic
import pytest

import sdk as restate
from sdk import Context, TerminalError, kafka
from sdk.engine import Done, EmitCommand, InputCommand, decode_entry, encode_entry
from sdk.kafka import RAW, AvroSerializer, emit
from tests.unit.sdk.fake_runtime import FakeRuntime, output_json

svc = restate.Service("Emitter")

SCHEMA = {
    "type": "record",
    "name": "Total",
    "fields": [{"name": "user", "type": "string"}, {"name": "total", "type": "long"}],
}


class Click(pydantic.BaseModel):
    page: str
    ms: int


@svc.handler()
async def various(ctx: Context) -> None:
    emit(ctx, "t.json", {"a": [1, 2]})
    emit(ctx, "t.model", Click(page="/", ms=3), key="u1", headers={"h": "v", "b": b"\x00"})
    emit(ctx, "t.raw", b"\x01\x02", key=b"\xff", serde=RAW)
    emit(ctx, "t.avro", {"user": "bob", "total": 7}, serde=AvroSerializer(SCHEMA))


@svc.handler()
async def bad(ctx: Context, case: str) -> str:
    try:
        if case == "topic":
            emit(ctx, "no spaces allowed", 1)
        elif case == "empty":
            emit(ctx, "", 1)
        elif case == "value":
            emit(ctx, "t", object())
        elif case == "raw":
            emit(ctx, "t", "not bytes", serde=RAW)
        elif case == "avro":
            emit(ctx, "t", {"user": "bob"}, serde=AvroSerializer(SCHEMA))
        elif case == "key":
            emit(ctx, "t", 1, key=5)  # type: ignore[arg-type]
        elif case == "big":
            emit(ctx, "t", b"x" * 1_000_001, serde=RAW)
        elif case == "unknown":
            emit(ctx, "missing.topic", 1)
    except TerminalError as e:
        return f"{e.status_code}: {e.message}"
    return "emitted"


def known_topics(topic: str) -> str | None:
    """A runtime's topic check: every topic exists except ``missing.topic``."""
    return f"{topic!r} does not exist" if topic == "missing.topic" else None


async def test_emits_are_journaled_commands_with_encoded_payloads() -> None:
    rt = FakeRuntime(svc.handlers["various"])
    status = await rt.run()
    assert isinstance(status, Done) and status.failure is None
    emits = [e for e in rt.journal if isinstance(e, EmitCommand)]
    assert [e.topic for e in emits] == ["t.json", "t.model", "t.raw", "t.avro"]
    assert emits[0].value == b'{"a":[1,2]}' and emits[0].key is None
    assert emits[1].value == b'{"page":"/","ms":3}' and emits[1].key == b"u1"
    assert emits[1].headers == {"h": b"v", "b": b"\x00"}
    assert (emits[2].value, emits[2].key) == (b"\x01\x02", b"\xff")
    parsed = fastavro.parse_schema(SCHEMA)
    assert fastavro.schemaless_reader(io.BytesIO(emits[3].value), parsed, parsed) == {
        "user": "bob",
        "total": 7,
    }
    for e in emits:  # the stored form round-trips
        assert decode_entry(encode_entry(e)) == e


async def test_replay_issues_no_new_emit() -> None:
    checked: list[str] = []

    def record(topic: str) -> None:
        checked.append(topic)

    first = FakeRuntime(svc.handlers["various"], topic_check=record)
    await first.run()
    assert checked == ["t.json", "t.model", "t.raw", "t.avro"]
    checked.clear()
    again = FakeRuntime(svc.handlers["various"], journal=first.journal, topic_check=record)
    p = await again.step()
    assert isinstance(p.status, Done)
    assert p.new_entries == ()
    assert checked == []  # journaled emits are not even re-checked


async def test_the_topic_check_belongs_to_the_driver_not_the_process() -> None:
    """A check given to one attempt never answers for another, earlier or later."""
    unknown = b'"unknown"'
    checked = FakeRuntime(svc.handlers["bad"], input=unknown, topic_check=known_topics)
    unchecked = FakeRuntime(svc.handlers["bad"], input=unknown)
    assert output_json(await checked.run()) == "404: emit: 'missing.topic' does not exist"
    assert output_json(await unchecked.run()) == "emitted"
    assert not hasattr(kafka, "install_topic_check")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("topic", "400: emit: invalid topic name 'no spaces allowed': only ASCII letters"),
        ("empty", "400: emit: invalid topic name ''"),
        ("value", "400: emit to 't': cannot serialize object value"),
        ("raw", "400: emit to 't': cannot serialize str value: raw serde needs bytes, got str"),
        ("avro", "400: emit to 't': cannot serialize dict value"),
        ("key", "400: emit: key must be str, bytes or None, got int"),
        ("big", "400: emit to 't': record of 1000001 bytes exceeds the 1000000-byte limit"),
        ("unknown", "404: emit: 'missing.topic' does not exist"),
    ],
)
async def test_bad_emits_raise_terminal_errors_and_journal_nothing(
    case: str, expected: str
) -> None:
    rt = FakeRuntime(svc.handlers["bad"], input=f'"{case}"'.encode(), topic_check=known_topics)
    out: Any = output_json(await rt.run())
    assert out.startswith(expected), out
    assert not any(isinstance(e, EmitCommand) for e in rt.journal)
    assert isinstance(rt.journal[0], InputCommand)


def test_topic_name_rules() -> None:
    assert kafka.validate_topic_name("orders.v1-x_y") is None
    assert kafka.validate_topic_name("a" * 249) is None
    assert kafka.validate_topic_name("a" * 250) is not None
    assert kafka.validate_topic_name("..") is not None
    assert kafka.validate_topic_name("ü") is not None
    assert kafka.validate_topic_name(3) == "topic must be a str, got int"


def test_invalid_avro_schema_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="invalid Avro schema"):
        AvroSerializer({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]})


def test_any_sdk_serde_is_a_serializer() -> None:
    assert isinstance(restate.serde.JsonSerde(), kafka.Serializer)
    assert isinstance(RAW, kafka.Serializer)
