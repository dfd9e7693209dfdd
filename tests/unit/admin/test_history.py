"""Completion kinds, cursors and time bounds of the invocation history (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runtime.admin.history import (
    BadCursor,
    CompletionKind,
    TimeFilter,
    completion_kind,
    decode_cursor,
    encode_cursor,
    epoch_ms,
)
from runtime.admin.invocations import describe_status
from runtime.log.records import Failure, Target
from runtime.partition.status import InvocationStatus, Outcome, Status


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (None, None),
        (Outcome(value=b"1"), CompletionKind.SUCCESS),
        (Outcome(), CompletionKind.SUCCESS),
        (Outcome(failure=Failure(500, "boom")), CompletionKind.FAILURE),
        (Outcome(failure=Failure(409, "killed")), CompletionKind.KILLED),
        (Outcome(failure=Failure(409, "cancelled")), CompletionKind.CANCELLED),
        (Outcome(failure=Failure(409, "conflict")), CompletionKind.FAILURE),
        (Outcome(failure=Failure(500, "killed")), CompletionKind.FAILURE),
    ],
)
def test_completion_kind(outcome: Outcome | None, kind: CompletionKind | None) -> None:
    assert completion_kind(outcome) == kind


def test_kind_values_are_pinned() -> None:
    """NEVER CHANGE: admin wire format and CLI filters."""
    assert [k.value for k in CompletionKind] == ["success", "failure", "killed", "cancelled"]


def test_cursor_round_trips_and_rejects_garbage() -> None:
    inv = "inv_1aB2cD3eF4gH5iJ6kL7mN8oP9q"
    assert decode_cursor(encode_cursor(1_700_000_000_123, inv)) == (1_700_000_000_123, inv)
    for bad in ["", "x", "12", "12.", "-1.inv_x", "a.inv_x", "12.x_1"]:
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_epoch_ms_reads_naive_times_as_utc() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678_000)
    assert epoch_ms(at) == epoch_ms(at.replace(tzinfo=UTC))
    plus2 = at.replace(tzinfo=timezone(timedelta(hours=2)))
    assert epoch_ms(plus2) == epoch_ms(at.replace(tzinfo=UTC)) - 2 * 3_600_000


def test_time_filter_bounds_are_exclusive() -> None:
    st = InvocationStatus(
        invocation_id="inv_1aB2cD3eF4gH5iJ6kL7mN8oP9q",
        target=Target("S", "h", None, "service"),
        status=Status.COMPLETED,
        created_ms=1000,
        modified_ms=2000,
        outcome=Outcome(value=b""),
        completed_ms=2000,
    )
    d = describe_status(st, 1)
    assert TimeFilter().matches(d)
    assert TimeFilter(created_after=999, created_before=1001).matches(d)
    assert not TimeFilter(created_after=1000).matches(d)
    assert not TimeFilter(created_before=1000).matches(d)
    assert TimeFilter(completed_after=1999, completed_before=2001).matches(d)
    assert not TimeFilter(completed_before=2000).matches(d)
    st.status, st.completed_ms = Status.INVOKED, None
    assert not TimeFilter(completed_after=0).matches(describe_status(st, 1))
