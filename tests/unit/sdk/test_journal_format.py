"""Pin the journal's wire format (msgpack and JSON). NEVER CHANGE these vectors."""

from __future__ import annotations

import msgspec
import pytest

from sdk.engine import (
    COMMAND_TYPES,
    AwakeableCommand,
    CallCommand,
    CancelSignal,
    Completion,
    Failure,
    InputCommand,
    JournalEntry,
    OutputCommand,
    RunCommand,
    SleepCommand,
    StateKeys,
    Value,
    Void,
    decode_entry,
    decode_journal,
    encode_entry,
    encode_journal,
    journal_from_json,
    journal_to_json,
)

SAMPLE: list[JournalEntry] = [
    InputCommand(headers={"a": "b"}, body=b'"x"'),
    RunCommand(name="charge"),
    Completion(1, Value(b"42")),
    CallCommand(service="S", handler="h", key="k", param=b"1", invocation_id="inv_1"),
    Completion(2, Failure(409, "cancelled", {"m": "1"})),
    SleepCommand(wake_up_time_ms=5, name=None),
    Completion(3, Void()),
    AwakeableCommand(id="prom_1"),
    Completion(4, StateKeys(["a"])),
    CancelSignal(),
    OutputCommand(result=Value(b"")),
]


def test_json_vectors() -> None:
    assert journal_to_json(SAMPLE[:3]) == (
        b'[{"type":"InputCommand","headers":{"a":"b"},"body":"Ingi"},'
        b'{"type":"RunCommand","name":"charge"},'
        b'{"type":"Completion","command_index":1,"result":{"type":"Value","data":"NDI="}}]'
    )
    assert journal_to_json([Completion(2, Failure(409, "cancelled"))]) == (
        b'[{"type":"Completion","command_index":2,'
        b'"result":{"type":"Failure","code":409,"message":"cancelled"}}]'
    )


def test_msgpack_vector() -> None:
    assert (
        encode_entry(RunCommand(name="a")).hex()
        == "82a474797065aa52756e436f6d6d616e64a46e616d65a161"
    )
    assert encode_entry(CancelSignal()).hex() == "81a474797065ac43616e63656c5369676e616c"


@pytest.mark.parametrize("entry", SAMPLE, ids=lambda e: type(e).__name__)
def test_round_trips(entry: JournalEntry) -> None:
    assert decode_entry(encode_entry(entry)) == entry


def test_journal_round_trips() -> None:
    assert decode_journal(encode_journal(SAMPLE)) == SAMPLE
    assert journal_from_json(journal_to_json(SAMPLE)) == SAMPLE


def test_every_command_type_is_tagged_by_class_name() -> None:
    for cls in COMMAND_TYPES:
        assert cls.__struct_config__.tag == cls.__name__
        assert cls.__name__.endswith("Command")


def test_garbage_is_rejected() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_entry(b"\xc1")
    with pytest.raises(msgspec.ValidationError):
        decode_entry(msgspec.msgpack.encode({"type": "Nope"}))


def test_describe_names_identifying_fields() -> None:
    assert CallCommand(service="P", handler="r", invocation_id="i").describe() == (
        "Call(service='P', handler='r')"
    )
    assert CallCommand(service="P", handler="r", key="k", invocation_id="i").describe() == (
        "Call(service='P', handler='r', key='k')"
    )
    assert SleepCommand(wake_up_time_ms=1).describe() == "Sleep()"
    assert RunCommand(name="x").identity() == ("Run", "x")
