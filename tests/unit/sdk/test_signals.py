"""Named signals in the driver, live: delivered while the handler waits, kept when early,
and a second delivery of the same signal (same id) ignored; and restate-sdk's ``entry_name``
on state calls, closed by the surface check (``docs/compatibility.md``)."""

from __future__ import annotations

from sdk.engine import (
    SIGNAL_WAKE,
    Blocked,
    Done,
    InputCommand,
    InvocationDescriptor,
    InvocationDriver,
    NamedSignal,
    Value,
)
from tests.unit.sdk import handlers as h
from tests.unit.sdk.fake_runtime import INVOCATION_ID, FakeRuntime


def _driver(journal: list[object] | None = None) -> InvocationDriver:
    descriptor = InvocationDescriptor(
        invocation_id=INVOCATION_ID, service="Approvals", handler="both", input=b""
    )
    return InvocationDriver(
        h.APP.handler("Approvals", "both"),
        descriptor,
        journal or [],  # type: ignore[arg-type]
        always_replay=False,
    )


async def test_signals_delivered_live_complete_the_waits_in_order() -> None:
    driver = _driver()
    progress = await driver.advance()
    assert isinstance(progress.status, Blocked)
    assert progress.status.awaiting == frozenset({1, SIGNAL_WAKE})
    progress = await driver.advance([NamedSignal("go", Value(b'"a"'), "s/1")])
    assert isinstance(progress.status, Blocked)
    assert progress.status.awaiting == frozenset({2, SIGNAL_WAKE})
    progress = await driver.advance([NamedSignal("go", Value(b'"b"'), "s/2")])
    assert isinstance(progress.status, Done) and progress.status.value == b'"ab"'


async def test_a_signal_delivered_again_is_ignored() -> None:
    """A live attempt is told about a signal its journal (read at start) already holds."""
    early = NamedSignal("go", Value(b'"a"'), "s/1")
    driver = _driver([InputCommand(), early])
    progress = await driver.advance()
    assert isinstance(progress.status, Blocked)
    progress = await driver.advance([early])
    assert isinstance(progress.status, Blocked)
    assert sum(isinstance(e, NamedSignal) for e in driver.journal) == 1
    progress = await driver.advance([NamedSignal("go", Value(b'"b"'), "s/2")])
    assert isinstance(progress.status, Done) and progress.status.value == b'"ab"'


async def test_entry_names_on_state_calls_are_accepted_and_not_journaled() -> None:
    """restate-sdk's ``entry_name`` on get/set/clear/clear_all/state_keys (surface check)."""
    rt = FakeRuntime(h.APP.handler("Named", "rename"), input=b'"x"', key="k", state={"a": b'"y"'})
    status = await rt.run()
    assert isinstance(status, Done) and status.value == b'["b"]'
    assert all("entry" not in repr(e) for e in rt.journal)
