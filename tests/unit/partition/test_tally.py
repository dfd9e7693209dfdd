"""The machine tallies what each batch did, for the node's metrics (runtime.partition.metering)."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.log import records
from runtime.partition.effects import Batch
from runtime.partition.prefetch import prefetch
from tests.unit.partition.golden_harness import GoldenRun, record

GREET = ["Greeter", "greet", None, "service"]


def _apply(run: GoldenRun, objs: list[dict[str, Any]]) -> Batch:
    decoded = []
    for obj in objs:
        decoded.append((run.offset, record(obj, run.sym)))
        run.offset += 1

    async def go() -> Batch:
        completed = await prefetch(run.machine, (r for _, r in decoded), run.redis)
        batch = run.machine.apply(decoded, completed, run.now_ms)
        run.redis.apply(batch.ops)
        return batch

    return asyncio.run(go())


def _names(targets: list[records.Target]) -> list[str]:
    return [f"{t.service}/{t.handler}" for t in targets]


def test_batches_tally_invocations_completions_failures_and_entries() -> None:
    run = GoldenRun({})
    first = _apply(
        run,
        [
            {"type": "leader", "epoch": 1, "worker_id": "w1"},
            {"type": "invoke", "invocation_id": "@a", "target": GREET, "input": "1"},
            {"type": "invoke", "invocation_id": "@b", "target": GREET, "input": "2"},
            # A duplicate of an existing invocation creates nothing: not counted.
            {"type": "invoke", "invocation_id": "@a", "target": GREET, "input": "1"},
        ],
    )
    assert _names(first.tally.invoked) == ["Greeter/greet", "Greeter/greet"]
    assert first.tally.completed == [] and first.tally.attempts_failed == []

    out = {"type": "OutputCommand", "result": {"type": "Value", "data": "1"}}
    second = _apply(
        run,
        [
            {"type": "journal", "invocation_id": "@a", "epoch": 1, "attempt": 1,
             "entries": [out], "start": 1},
            {"type": "failed", "invocation_id": "@b", "epoch": 1, "attempt": 1,
             "code": 500, "message": "boom"},
        ],
    )  # fmt: skip
    assert second.tally.invoked == []
    done = [
        (st.target, st.outcome is not None and st.outcome.failure is None)
        for st in second.tally.completed
    ]
    assert [(f"{t.service}/{t.handler}", ok) for t, ok in done] == [
        ("Greeter/greet", True),
        ("Greeter/greet", False),  # failed with no retry time: completed with the failure
    ]
    assert _names(second.tally.attempts_failed) == ["Greeter/greet"]
    assert second.tally.journal_entries == 1

    # A stale attempt's failure changes nothing and counts nothing.
    third = _apply(
        run,
        [{"type": "failed", "invocation_id": "@b", "epoch": 1, "attempt": 1, "code": 500,
          "message": "late"}],
    )  # fmt: skip
    assert third.tally.attempts_failed == [] and third.tally.completed == []
