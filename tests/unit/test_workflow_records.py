"""Records and journal effects added for workflows, awakeables and attach (ADR 0007)."""

from __future__ import annotations

import msgspec

from runtime.log import records
from runtime.partition import journal as J
from runtime.partition.status import InvocationStatus, Status, decode_status
from sdk import _journal as sj


def test_attach_invocation_record_is_pinned() -> None:
    rec = records.AttachInvocation("inv_t", records.CallerSink("inv_c", 4), peek=True)
    data = records.encode(rec)
    assert records.decode(data) == rec
    assert msgspec.msgpack.decode(data) == ["attachinv", "inv_t", ["inv_c", 4], True]


def test_complete_written_before_the_awakeable_flag_still_decodes() -> None:
    old = msgspec.msgpack.encode(["complete", "inv_x", 2, b"v", None])
    assert records.decode(old) == records.Complete("inv_x", 2, value=b"v", awakeable=False)
    new = records.Complete("inv_x", 2, value=b"v", awakeable=True)
    assert records.decode(records.encode(new)) == new


def test_status_written_before_awakeables_and_attachers_still_decodes() -> None:
    st = InvocationStatus("inv_x", records.Target("S", "h"), Status.INVOKED, 1, 1)
    fields = list(msgspec.msgpack.decode(msgspec.msgpack.encode(st)))
    old = msgspec.msgpack.encode(fields[:-2])  # as stored by the previous version
    decoded = decode_status(old)
    assert decoded.awakeables == [] and decoded.attachers == []


def test_journal_effects_of_awakeables_and_attach() -> None:
    assert J.effect_of(sj.AwakeableCommand(id="prom_x")) == J.Awakeable()
    assert J.effect_of(sj.AttachInvocationCommand(invocation_id="inv_t")) == J.AttachInvocation(
        "inv_t", peek=False
    )
    assert J.effect_of(sj.GetInvocationOutputCommand(invocation_id="inv_t")) == (
        J.AttachInvocation("inv_t", peek=True)
    )


def test_malformed_awakeable_id_from_a_handler_completes_nothing() -> None:
    entry = sj.CompleteAwakeableCommand(id="prom_bad", result=sj.Value(b"1"))
    assert J.effect_of(entry) is None
