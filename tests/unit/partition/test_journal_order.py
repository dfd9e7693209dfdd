"""An attempt's entries that raced a notification (ADR 0003, amendment): reordered after
it, never dropped, whichever owner applies them (no I/O: a fake store)."""

from __future__ import annotations

from typing import Any, cast

from runtime.log import records
from runtime.partition import journal as J
from runtime.partition.processor import PartitionProcessor, ProcessorDeps, _Batch
from runtime.partition.status import InvocationStatus, Status
from runtime.state.store import LTrim, RPush
from sdk import _journal as sj

NOTE = J.notification_entry(1, b'"hi"', None)
SET = sj.encode_entry(sj.SetStateCommand(key="count", value=b"2"))


class _Store:
    def __init__(self, journal: list[bytes]) -> None:
        self.journal = journal
        self.reads: list[tuple[int, int]] = []

    async def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        self.reads.append((start, stop))
        return self.journal[start : stop + 1]


def _processor(store: _Store) -> tuple[PartitionProcessor, InvocationStatus]:
    deps = ProcessorDeps(
        prefix="t", partitions=4, store=cast(Any, store), producer=cast(Any, None),
        redis=cast(Any, None), registry=cast(Any, {}), worker_id="w",
        invoker=cast(Any, None), publisher=cast(Any, None),
    )  # fmt: skip
    proc = PartitionProcessor(1, deps)
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
    proc.active["inv_a"] = st
    return proc, st


def _append(proc: PartitionProcessor, start: int) -> _Batch:
    b = _Batch()
    proc._on_journal(records.AppendJournal("inv_a", 0, 1, [SET], start), b)
    return b


def test_entries_behind_a_notification_this_owner_journaled_go_after_it() -> None:
    proc, st = _processor(_Store([]))
    proc._on_complete("inv_a", 1, b'"hi"', None, _Batch())  # journaled at position 2
    b = _append(proc, start=2)
    key = proc.keys.journal("inv_a")
    assert [op for op in b.ops if isinstance(op, (LTrim, RPush))] == [
        LTrim(key, 0, 1),
        RPush(key, [SET, NOTE]),
    ]
    assert (st.attempt, st.journal_len) == (1, 4)


async def test_a_new_owner_learns_the_notification_from_redis_and_decides_the_same() -> None:
    """The notification was journaled by the previous owner: without reading it, the new
    owner would drop the entries and replay (running their ctx.run again)."""
    store = _Store([b"input", b"cmd", NOTE])
    proc, st = _processor(store)
    st.journal_len = 3
    rec = records.AppendJournal("inv_a", 0, 1, [SET], 2)
    await proc._prefetch([rec])
    assert store.reads == [(2, 2)]
    b = _Batch()
    proc._on_journal(rec, b)
    key = proc.keys.journal("inv_a")
    assert RPush(key, [SET, NOTE]) in b.ops and LTrim(key, 0, 1) in b.ops
    assert (st.attempt, st.journal_len) == (1, 4)


def test_entries_from_past_the_journal_end_still_replay() -> None:
    proc, st = _processor(_Store([]))
    b = _append(proc, start=5)
    assert st.attempt == 2 and not [op for op in b.ops if isinstance(op, RPush)]
