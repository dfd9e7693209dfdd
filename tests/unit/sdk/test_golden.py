"""Golden journal tests: checked-in journals replayed through a fresh driver.

Each ``golden/*.json`` names a handler from ``handlers.py``, the invocation, a
journal, and what the first ``advance()`` of a new driver must return.
Regenerate with ``python -m tests.unit.sdk.make_golden`` only on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdk.engine import (
    Blocked,
    Completion,
    Done,
    Failed,
    InvocationDescriptor,
    InvocationDriver,
    OutputCommand,
    Value,
    is_command,
)
from tests.unit.sdk import handlers as h
from tests.unit.sdk.golden_io import GOLDEN_DIR, load_golden

GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))


def test_golden_files_exist() -> None:
    names = {p.stem for p in GOLDEN_FILES}
    assert {"nondeterminism_run_vs_call", "run_not_reexecuted"} <= names


def _kind(entry: object) -> str:
    name = type(entry).__name__
    return name.removesuffix("Command") if is_command(entry) else name  # type: ignore[arg-type]


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
async def test_golden(path: Path) -> None:
    golden, journal = load_golden(path)
    service, handler_name = golden["handler"].split("/")
    handler = h.APP.handler(service, handler_name)
    state = golden["eager_state"]
    descriptor = InvocationDescriptor(
        invocation_id=golden["invocation_id"],
        service=service,
        handler=handler_name,
        key=golden["key"],
        input=golden["input"].encode(),
        random_seed=1,
        eager_state={k: v.encode() for k, v in state.items()} if state is not None else None,
    )
    h.CALLS.clear()
    driver = InvocationDriver(handler, descriptor, journal, clock=lambda: 1_000.0)
    progress = await driver.advance()
    expect = golden["expect"]
    status = progress.status

    assert type(status).__name__ == expect["status"], status
    if isinstance(status, Done):
        if "output" in expect:
            assert status.value is not None
            assert status.value.decode() == expect["output"]
        if "failure" in expect:
            assert status.failure is not None
            assert (status.failure.code, status.failure.message) == (
                expect["failure"]["code"],
                expect["failure"]["message"],
            )
    if isinstance(status, Failed):
        assert status.code == expect["code"]
        assert status.message == expect["message"]
    if isinstance(status, Blocked):
        assert sorted(status.awaiting) == expect["awaiting"]
        assert status.needs_ack == expect["needs_ack"]
    if "new_entries" in expect:
        assert [_kind(e) for e in progress.new_entries] == expect["new_entries"]
    for name, count in expect.get("action_calls", {}).items():
        assert h.CALLS[name] == count, (name, dict(h.CALLS))
    # The replayed prefix is untouched: the driver only appends.
    assert list(driver.journal[: len(journal)]) == journal


async def test_golden_run_result_is_the_journaled_one() -> None:
    """A journaled run result is returned as recorded, even if the action would differ."""
    golden, journal = load_golden(GOLDEN_DIR / "run_not_reexecuted.json")
    tampered = [
        Completion(3, Value(b"100")) if isinstance(e, Completion) and e.command_index == 3 else e
        for e in journal
        if not isinstance(e, OutputCommand)
    ]
    descriptor = InvocationDescriptor(
        invocation_id=golden["invocation_id"],
        service="Steps",
        handler="run",
        key="w1",
        input=b"5",
    )
    h.CALLS.clear()
    driver = InvocationDriver(h.APP.handler("Steps", "run"), descriptor, tampered)
    progress = await driver.advance()
    assert isinstance(progress.status, Done)
    assert json.loads(progress.status.value or b"") == 100
    assert sum(h.CALLS.values()) == 0
