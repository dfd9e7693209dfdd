"""An attempt's entries that raced a notification (ADR 0003, amendment): reordered after
it, never dropped, whichever owner applies them. Driven through the machine and the
processor's prefetch, without I/O (the Redis model of the golden harness)."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.log import records
from runtime.partition import journal as J
from runtime.partition.effects import AbortAttempt, Batch, StartAttempt
from runtime.partition.prefetch import prefetch
from runtime.partition.status import InvocationStatus, Status
from runtime.state.store import LTrim, RPush
from sdk import _journal as sj
from tests.unit.partition.golden_harness import GoldenRun, ModelRedis

NOTE = J.notification_entry(1, b'"hi"', None)
SET = sj.encode_entry(sj.SetStateCommand(key="count", value=b"2"))
NOW = 1_000_000


class _CountingRedis(ModelRedis):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    async def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        self.reads.append((start, stop))
        return await super().lrange(key, start, stop)


def _machine() -> tuple[GoldenRun, InvocationStatus]:
    run = GoldenRun({}, _CountingRedis())
    st = InvocationStatus(
        invocation_id="inv_a",
        target=records.Target("Counter", "add", "k", "exclusive"),
        status=Status.INVOKED,
        created_ms=0,
        modified_ms=0,
        attempt=1,
        journal_len=2,
        commands=2,
    )
    run.machine.active["inv_a"] = st
    return run, st


def _apply(run: GoldenRun, recs: Sequence[records.Record]) -> Batch:
    return run.machine.apply([(i, r) for i, r in enumerate(recs)], {}, NOW)


def test_entries_behind_a_notification_this_owner_journaled_go_after_it() -> None:
    run, st = _machine()
    _apply(run, [records.Complete("inv_a", 1, b'"hi"')])  # journaled at position 2
    b = _apply(run, [records.AppendJournal("inv_a", 0, 1, [SET], 2)])
    key = run.keys.journal("inv_a")
    assert [op for op in b.ops if isinstance(op, (LTrim, RPush))] == [
        LTrim(key, 0, 1),
        RPush(key, [SET, NOTE]),
    ]
    assert (st.attempt, st.journal_len) == (1, 4)


async def test_a_new_owner_learns_the_notification_from_redis_and_decides_the_same() -> None:
    """The notification was journaled by the previous owner: without reading it, the new
    owner would drop the entries and replay (running their ctx.run again)."""
    run, st = _machine()
    run.redis.lists[run.keys.journal("inv_a")] = [b"input", b"cmd", NOTE]
    st.journal_len = 3
    rec = records.AppendJournal("inv_a", 0, 1, [SET], 2)
    await prefetch(run.machine, [rec], run.redis)
    assert isinstance(run.redis, _CountingRedis) and run.redis.reads == [(2, 2)]
    b = _apply(run, [rec])
    key = run.keys.journal("inv_a")
    assert RPush(key, [SET, NOTE]) in b.ops and LTrim(key, 0, 1) in b.ops
    assert (st.attempt, st.journal_len) == (1, 4)


def test_entries_from_past_the_journal_end_still_replay() -> None:
    run, st = _machine()
    b = _apply(run, [records.AppendJournal("inv_a", 0, 1, [SET], 5)])
    assert st.attempt == 2 and not [op for op in b.ops if isinstance(op, RPush)]
    assert b.effects == [AbortAttempt("inv_a"), StartAttempt("inv_a", 2)]
