"""The read model against the real Redis: what the store applied is what the readers see.

State is written the way processors write it (fenced applies of the store), on
several partitions, and read back through :class:`StateReads` — the only way
the ingress, the admin API and the dead-letter outbox read Redis.
"""

from __future__ import annotations

import pytest

from runtime.log.producer import partition_of_invocation, partition_of_key
from runtime.log.routing import job_routing_key
from runtime.state.keys import META_LEADER
from runtime.state.reads import PartitionInfo, StateReads
from runtime.state.store import HSet, Op, PartitionStore, RPush, Set
from sdk._ids import invocation_id_for, keyed_routing_key

P = 4
HOSTILE_KEYS = ["a/b", "{p1}", "日本", "", "%2F"]


async def _apply(store: PartitionStore, per_partition: dict[int, list[Op]]) -> None:
    for part, ops in per_partition.items():
        epoch = await store.claim(part)
        await store.apply(part, epoch, 1, ops)


def _ids(n: int) -> list[str]:
    """Ids spread so that every partition holds at least one."""
    ids: list[str] = []
    seen: set[int] = set()
    while len(ids) < n or len(seen) < P:
        inv = invocation_id_for(service="S", key=None)
        seen.add(partition_of_invocation(inv, P))
        ids.append(inv)
    return ids


@pytest.fixture
def reads(store: PartitionStore, prefix: str) -> StateReads:
    return StateReads(store.redis, prefix, P)


async def test_invocation_status_journal_and_existence(
    store: PartitionStore, reads: StateReads
) -> None:
    ids = _ids(8)
    ops: dict[int, list[Op]] = {}
    for n, inv in enumerate(ids):
        keys = reads.keys(partition_of_invocation(inv, P))
        ops.setdefault(keys.partition, []).extend(
            [Set(keys.inv(inv), f"status-{n}".encode())]
            + [RPush(keys.journal(inv), [f"{inv}:{e}".encode() for e in range(n)])] * (n > 0)
        )
    await _apply(store, ops)
    unknown = invocation_id_for(service="S", key=None)

    assert await reads.status(ids[3]) == b"status-3"
    assert await reads.status(unknown) is None
    assert await reads.statuses([ids[5], unknown, ids[0]]) == [b"status-5", None, b"status-0"]
    assert await reads.statuses([]) == []
    assert await reads.exists(ids[1]) and not await reads.exists(unknown)
    assert await reads.journal_length(ids[4]) == 4
    assert await reads.journal_length(ids[0]) == 0
    assert await reads.journal(ids[2]) == [f"{ids[2]}:0".encode(), f"{ids[2]}:1".encode()]
    assert await reads.journal(unknown) == []
    assert await reads.first_journal_entry(ids[3]) == f"{ids[3]}:0".encode()
    assert await reads.first_journal_entry(ids[0]) is None


async def test_active_lists_every_partition_with_journal_lengths(
    store: PartitionStore, reads: StateReads
) -> None:
    ids = _ids(7)
    gone = invocation_id_for(service="S", key=None)  # indexed, its status already purged
    ops: dict[int, list[Op]] = {}
    for n, inv in enumerate([*ids, gone]):
        keys = reads.keys(partition_of_invocation(inv, P))
        batch = ops.setdefault(keys.partition, [])
        batch.append(HSet(keys.active, inv, b"1"))
        if inv != gone:
            batch.append(Set(keys.inv(inv), f"s{n}".encode()))
            batch.append(RPush(keys.journal(inv), [b"e"] * (n + 1)))
    await _apply(store, ops)

    got = [a async for a in reads.active(chunk=3)]  # several chunks
    assert sorted((a.invocation_id, a.status, a.journal_length) for a in got) == sorted(
        (inv, f"s{n}".encode(), n + 1) for n, inv in enumerate(ids)
    )
    assert len({partition_of_invocation(a.invocation_id, P) for a in got}) == P


async def test_object_state_by_service_and_key(store: PartitionStore, reads: StateReads) -> None:
    ops: dict[int, list[Op]] = {}
    for n, key in enumerate(HOSTILE_KEYS):
        part = partition_of_key(keyed_routing_key("Counter", key), P)
        state = reads.keys(part).state("Counter", key)
        ops.setdefault(part, []).extend(
            [HSet(state, "count", str(n).encode()), HSet(state, "é", b"\xff")]
        )
    await _apply(store, ops)

    for n, key in enumerate(HOSTILE_KEYS):
        assert await reads.object_state("Counter", key) == {"count": str(n).encode(), "é": b"\xff"}
    assert await reads.object_state("Counter", "nobody") == {}
    assert await reads.object_state("Other", "a/b") == {}


async def test_cron_jobs_one_and_all(store: PartitionStore, reads: StateReads) -> None:
    jobs = [f"job-{n}" for n in range(9)]
    ops: dict[int, list[Op]] = {}
    for job in jobs:
        part = partition_of_key(job_routing_key(job), P)
        ops.setdefault(part, []).append(HSet(reads.keys(part).cron, job, job.encode()))
    await _apply(store, ops)

    assert await reads.cron_job("job-4") == b"job-4"
    assert await reads.cron_job("job-x") is None
    assert sorted(await reads.cron_jobs()) == sorted(j.encode() for j in jobs)


async def test_pending_dead_letters_of_one_partition(
    store: PartitionStore, reads: StateReads
) -> None:
    await _apply(
        store, {2: [HSet(reads.keys(2).dlq, "f1", b"a"), HSet(reads.keys(2).dlq, "f2", b"b")]}
    )
    assert await reads.pending_dead_letters(2) == {"f1": b"a", "f2": b"b"}
    assert await reads.pending_dead_letters(1) == {}


async def test_partitions_report_epochs_positions_and_sizes(
    store: PartitionStore, reads: StateReads
) -> None:
    keys = reads.keys(1)
    await store.claim(1)
    epoch = await store.claim(1)  # a second owner
    await store.apply(
        1,
        epoch,
        41,
        [
            HSet(keys.meta, META_LEADER, str(epoch).encode()),
            HSet(keys.active, "inv_a", b"1"),
            HSet(keys.active, "inv_b", b"1"),
            HSet(keys.dlq, "d", b"x"),
        ],
    )
    await store.redis.zadd(keys.timers, {b"t1": 1, b"t2": 2, b"t3": 3})

    got = await reads.partition_infos()
    assert [p.partition for p in got] == list(range(P))
    assert got[1] == PartitionInfo(1, epoch, epoch, 41, active=2, timers=3, dead_letters=1)
    assert got[0] == PartitionInfo(0, 0, 0, -1, active=0, timers=0, dead_letters=0)
