"""Pins the values of every enum whose values travel on rt.log, live in Redis or are shown
by the admin API: NEVER CHANGE a value (a renamed member must keep its value)."""

from __future__ import annotations

from enum import StrEnum

import msgspec
import pytest

from runtime.admin.invocations import RestateStatus
from runtime.log import records
from runtime.log.records import InvocationSource, TargetKind
from runtime.partition.answers import Response, ResponseStatus, encode_response
from runtime.partition.timer import Timer, TimerKind, timer_decoder, timer_encoder
from runtime.registry import HandlerKind, OnMaxAttempts, ServiceType

PINNED: list[tuple[type[StrEnum], dict[str, str]]] = [
    (
        TargetKind,
        {
            "SERVICE": "service",
            "EXCLUSIVE": "exclusive",
            "SHARED": "shared",
            "WORKFLOW": "workflow",
        },
    ),
    (
        InvocationSource,
        {
            "INGRESS": "ingress",
            "SERVICE": "service",
            "SUBSCRIPTION": "subscription",
            "CRON": "cron",
            "ADMIN": "admin",
        },
    ),
    (
        TimerKind,
        {
            "SLEEP": "sleep",
            "RETRY": "retry",
            "SCHEDULED": "scheduled",
            "RETENTION": "retention",
            "CRON": "cron",
        },
    ),
    (
        ServiceType,
        {"SERVICE": "Service", "VIRTUAL_OBJECT": "VirtualObject", "WORKFLOW": "Workflow"},
    ),
    (HandlerKind, {"EXCLUSIVE": "Exclusive", "SHARED": "Shared", "WORKFLOW": "Workflow"}),
    (OnMaxAttempts, {"PAUSE": "pause", "KILL": "kill"}),
    (
        ResponseStatus,
        {
            "DONE": "done",
            "ACCEPTED": "accepted",
            "PREVIOUSLY_ACCEPTED": "previously_accepted",
            "DUPLICATE_RUN": "duplicate_run",
            "NOT_FOUND": "not_found",
            "NOT_READY": "not_ready",
        },
    ),
    (
        RestateStatus,
        {
            "SCHEDULED": "scheduled",
            "PENDING": "pending",
            "RUNNING": "running",
            "SUSPENDED": "suspended",
            "BACKING_OFF": "backing-off",
            "PAUSED": "paused",
            "COMPLETED": "completed",
        },
    ),
]


@pytest.mark.parametrize(("enum", "values"), PINNED, ids=[e.__name__ for e, _ in PINNED])
def test_values_never_change(enum: type[StrEnum], values: dict[str, str]) -> None:
    assert {m.name: m.value for m in enum} == values


def test_members_encode_as_their_strings() -> None:
    """An enum member and its string literal give the same bytes on the wire."""
    for kind in TargetKind:
        with_member = records.Invoke(
            "inv_x", records.Target("S", "h", "k", kind), b"", source=InvocationSource.CRON
        )
        with_text = records.Invoke(
            "inv_x", records.Target("S", "h", "k", kind.value), b"", source="cron"
        )
        assert records.encode(with_member) == records.encode(with_text)
    assert records.encode(records.Invoke("i", records.Target("S", "h"), b"")) == records.encode(
        records.Invoke("i", records.Target("S", "h", None, "service"), b"", source="ingress")
    )
    for tk in TimerKind:
        assert timer_encoder.encode(Timer(tk, "inv_x", 1)) == timer_encoder.encode(
            Timer(tk.value, "inv_x", 1)
        )
    assert msgspec.json.encode(TargetKind.SHARED) == b'"shared"'


def test_decoded_values_compare_equal_to_members() -> None:
    decoded = records.decode(
        records.encode(records.Invoke("i", records.Target("S", "h", "k", "workflow"), b""))
    )
    assert isinstance(decoded, records.Invoke)
    assert decoded.target.kind == TargetKind.WORKFLOW
    assert decoded.source == InvocationSource.INGRESS


def test_responses_encode_their_status_as_its_string() -> None:
    for status in ResponseStatus:
        member = encode_response(Response("r", "inv_x", None, status))
        assert msgspec.msgpack.decode(member) == ["r", "inv_x", None, status.value]
    assert encode_response(Response("r", "inv_x")) == msgspec.msgpack.encode(
        ["r", "inv_x", None, "done"]
    )


def test_every_kind_ever_written_decodes_to_its_member() -> None:
    """Records and timers written before the fields were typed carry these strings."""
    for kind in ("service", "exclusive", "shared", "workflow"):
        raw = msgspec.msgpack.encode(["invoke", "inv_x", ["S", "h", "k", kind], b""])
        decoded = records.decode(raw)
        assert isinstance(decoded, records.Invoke)
        assert decoded.target.kind is TargetKind(kind)
    for timer_kind in ("sleep", "retry", "scheduled", "retention", "cron"):
        timer = timer_decoder.decode(msgspec.msgpack.encode([timer_kind, "inv_x", 3, 1]))
        assert timer.kind is TimerKind(timer_kind)
    with pytest.raises(msgspec.ValidationError):
        timer_decoder.decode(msgspec.msgpack.encode(["nap", "inv_x", 3, 1]))
