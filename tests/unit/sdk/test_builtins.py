"""rt's built-in rt.Kafka service: its contract and its in-process handler (ADR 0021 §4)."""

from __future__ import annotations

import json

import pytest

from sdk._builtins import EmitRecord, decode_emit, encode_emit
from sdk.engine import Done, EmitCommand, HandlerDefinition, ServiceType, builtin_services
from tests.unit.sdk.fake_runtime import FakeRuntime

INVOKER = "inv_1emitter"


def _kafka_emit() -> HandlerDefinition:
    (kafka,) = builtin_services()
    return kafka.handlers["emit"]


def test_the_builtin_is_a_private_virtual_object_with_an_exclusive_emit() -> None:
    (kafka,) = builtin_services()
    assert kafka.name == "rt.Kafka"
    assert kafka.service_type is ServiceType.VIRTUAL_OBJECT
    assert kafka.options.ingress_private is True
    assert list(kafka.handlers) == ["emit"]


def test_the_payload_round_trips_and_omits_what_is_absent() -> None:
    full = EmitRecord("orders", b"\x00v", key=b"k", headers={"h": b"\xff"})
    assert decode_emit(json.loads(encode_emit(full))) == full
    bare = encode_emit(EmitRecord("orders", b"v"))
    assert json.loads(bare) == {"topic": "orders", "value": "dg=="}
    assert decode_emit(json.loads(bare)) == EmitRecord("orders", b"v", None, {})


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ([], "takes a JSON object"),
        ({"topic": 1, "value": ""}, "'topic' must be a string"),
        ({"topic": "t", "value": "%%"}, "'value' is not base64"),
        ({"topic": "t", "value": 5}, "'value' must be a base64 string"),
        ({"topic": "t", "value": "", "headers": []}, "'headers' must be an object"),
        ({"topic": "t", "value": "", "extra": 1}, "unknown fields ['extra']"),
    ],
)
def test_malformed_payloads_are_refused(doc: object, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
        decode_emit(doc)


async def test_the_handler_journals_one_emit_command_with_the_record() -> None:
    record = EmitRecord("orders", b'{"n":1}', key=b"u1", headers={"h": b"v"})
    rt = FakeRuntime(_kafka_emit(), input=encode_emit(record), key=INVOKER)
    status = await rt.run()
    assert isinstance(status, Done) and status.failure is None
    emits = [e for e in rt.journal if isinstance(e, EmitCommand)]
    assert emits == [EmitCommand(topic="orders", value=b'{"n":1}', key=b"u1", headers={"h": b"v"})]


async def test_the_runtimes_topic_check_and_bad_payloads_fail_the_builtin_terminally() -> None:
    record = encode_emit(EmitRecord("missing", b"v"))
    unknown = FakeRuntime(
        _kafka_emit(), input=record, key=INVOKER, topic_check=lambda t: f"{t!r} does not exist"
    )
    status = await unknown.run()
    assert isinstance(status, Done) and status.failure is not None
    assert status.failure.code == 404
    garbage = FakeRuntime(_kafka_emit(), input=b'{"topic": 3}', key=INVOKER)
    status = await garbage.run()
    assert isinstance(status, Done) and status.failure is not None
    assert status.failure.code == 400
    assert not any(isinstance(e, EmitCommand) for e in garbage.journal)
