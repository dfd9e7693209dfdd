"""What pause, resume and restart-as-new answer for each invocation status (Restate's codes)."""

from __future__ import annotations

import pytest

from runtime.admin.invocation_control import (
    ControlError,
    PauseOutcome,
    check_pause,
    check_restart,
    check_resume,
    restart_invoke,
)
from runtime.log.records import InvocationSource, Target, TargetKind
from runtime.partition.journal import input_entry
from runtime.partition.status import InvocationStatus, Status

ID = "inv_test"


def _st(
    status: Status, kind: TargetKind = TargetKind.SERVICE, pin: str | None = None
) -> InvocationStatus:
    target = Target("S", "h", None if kind is TargetKind.SERVICE else "k", kind)
    return InvocationStatus(ID, target, status, 1, 1, deployment=pin)


def _code(fn: object, *args: object) -> int:
    with pytest.raises(ControlError) as e:
        fn(*args)  # type: ignore[operator]
    return e.value.status


def test_pause() -> None:
    assert _code(check_pause, ID, None) == 404
    for s in (Status.INVOKED, Status.SUSPENDED, Status.BACKING_OFF):
        assert check_pause(ID, _st(s)) is PauseOutcome.PAUSING
    assert check_pause(ID, _st(Status.PAUSED)) is PauseOutcome.ALREADY_PAUSED
    for s in (Status.SCHEDULED, Status.INBOXED, Status.COMPLETED):
        assert _code(check_pause, ID, _st(s)) == 409


def test_resume() -> None:
    assert _code(check_resume, ID, None, False) == 404
    assert _code(check_resume, ID, _st(Status.COMPLETED), False) == 409
    for s in (Status.SCHEDULED, Status.INBOXED):
        assert _code(check_resume, ID, _st(s), False) == 425
    for s in (Status.INVOKED, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED):
        check_resume(ID, _st(s), False)
    # Onto another deployment: only paused or suspended, and pinned.
    check_resume(ID, _st(Status.PAUSED, pin="dp_1"), True)
    check_resume(ID, _st(Status.SUSPENDED, pin="dp_1"), True)
    assert _code(check_resume, ID, _st(Status.PAUSED), True) == 409
    assert _code(check_resume, ID, _st(Status.INVOKED, pin="dp_1"), True) == 409


def test_restart() -> None:
    assert _code(check_restart, ID, None) == 404
    for s in (Status.SCHEDULED, Status.INBOXED):
        assert _code(check_restart, ID, _st(s)) == 425
    for s in (Status.INVOKED, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED):
        assert _code(check_restart, ID, _st(s)) == 409
    assert _code(check_restart, ID, _st(Status.COMPLETED, TargetKind.WORKFLOW)) == 422
    check_restart(ID, _st(Status.COMPLETED, TargetKind.EXCLUSIVE))


def test_the_new_invocation_has_the_old_input_and_headers_and_a_new_id() -> None:
    st = _st(Status.COMPLETED, TargetKind.EXCLUSIVE)
    st.idempotency_key = "once"
    inv = restart_invoke(st, [input_entry({"x-h": "1"}, b'"in"')], 42)
    assert inv.invocation_id != ID and inv.invocation_id.startswith("inv_")
    assert (inv.target, inv.input, inv.headers) == (st.target, b'"in"', {"x-h": "1"})
    assert inv.idempotency_key is None and inv.send and inv.fresh_id
    assert (inv.source, inv.created_at_ms) == (InvocationSource.ADMIN, 42)
