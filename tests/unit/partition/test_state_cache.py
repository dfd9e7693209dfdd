"""The partition's object-state cache never keeps a read that may predate a write.

State reads go to Redis on another connection than the applies, so Redis may serve a
read sent before an apply's script runs. Such a read is fine for a shared handler (it
is committed state) but must not become the cached state the next exclusive handler
starts from. Driven without I/O: a gated loader stands in for Redis, the machine
computes the writes.
"""

from __future__ import annotations

import asyncio

from runtime.log import records
from runtime.partition.effects import Batch
from runtime.partition.machine import PartitionMachine
from runtime.partition.state_cache import ObjectKey, ObjectStates
from runtime.partition.status import InvocationStatus, Status
from sdk import _journal as sj
from tests.unit.partition.golden_harness import GoldenRun

KEY = ("Counter", "k")


class _Redis:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.state = {b"count": b"1"}

    async def hgetall_many(self, oks: list[ObjectKey]) -> list[dict[bytes, bytes]]:
        before = dict(self.state)  # what Redis served: the read ran before the apply
        await self.gate.wait()
        return [before for _ in oks]


def _machine() -> tuple[PartitionMachine, ObjectStates, _Redis]:
    redis = _Redis()
    machine = GoldenRun({}).machine
    states = machine.states = ObjectStates(redis.hgetall_many)
    machine.active["inv_h"] = InvocationStatus(
        invocation_id="inv_h",
        target=records.Target(KEY[0], "add", KEY[1], "exclusive"),
        status=Status.INVOKED,
        created_ms=0,
        modified_ms=0,
        attempt=1,
        journal_len=1,
        commands=1,
    )
    return machine, states, redis


def _set_count(machine: PartitionMachine, value: bytes) -> Batch:
    entry = sj.encode_entry(sj.SetStateCommand(key="count", value=value))
    return machine.apply([(0, records.AppendJournal("inv_h", 1, 1, [entry]))], {}, 1_000)


async def test_a_read_racing_a_write_is_returned_but_not_cached() -> None:
    machine, states, redis = _machine()
    read = asyncio.ensure_future(states.read(KEY))
    await asyncio.sleep(0)
    _set_count(machine, b"2")  # computed while the read is in flight
    redis.gate.set()
    assert await read == {"count": b"1"}
    assert KEY not in states.cache


async def test_a_read_started_before_a_computed_write_is_applied_is_not_cached() -> None:
    machine, states, redis = _machine()
    b = _set_count(machine, b"2")
    assert b.state_keys == {KEY}
    states.applying(b.state_keys)  # as the processor does until the apply returns
    read = asyncio.ensure_future(states.read(KEY))
    await asyncio.sleep(0)
    states.applied(b.state_keys)
    redis.gate.set()
    await read
    assert KEY not in states.cache


async def test_a_quiet_read_is_cached() -> None:
    _, states, redis = _machine()
    redis.gate.set()
    assert await states.read(KEY) == {"count": b"1"}
    assert states.cache[KEY] == {"count": b"1"}
    assert states.written_while_loading == {}
