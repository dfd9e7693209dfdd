"""The processor's object-state cache never keeps a read that may predate a write.

State reads go to Redis on another connection than the applies, so Redis may serve a
read sent before an apply's script runs. Such a read is fine for a shared handler (it
is committed state) but must not become the cached state the next exclusive handler
starts from. Driven without I/O: a gated fake store stands in for Redis.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from runtime.log import records
from runtime.partition.processor import PartitionProcessor, ProcessorDeps, _Batch
from runtime.partition.status import InvocationStatus, Status
from sdk import _journal as sj

KEY = ("Counter", "k")


class _Store:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.state = {b"count": b"1"}

    async def hgetall_many(self, keys: list[str]) -> list[dict[bytes, bytes]]:
        before = dict(self.state)  # what Redis served: the read ran before the apply
        await self.gate.wait()
        return [before for _ in keys]


def _processor() -> tuple[PartitionProcessor, _Store]:
    store = _Store()
    deps = ProcessorDeps(
        prefix="t", partitions=4, store=cast(Any, store), producer=cast(Any, None),
        redis=cast(Any, None), registry=cast(Any, None), worker_id="w",
        invoker=cast(Any, None), publisher=cast(Any, None),
    )  # fmt: skip
    return PartitionProcessor(1, deps), store


def _holder() -> InvocationStatus:
    return InvocationStatus(
        invocation_id="inv_h",
        target=records.Target(KEY[0], "add", KEY[1], "exclusive"),
        status=Status.INVOKED,
        created_ms=0,
        modified_ms=0,
    )


def _set_count(proc: PartitionProcessor, value: bytes) -> _Batch:
    b = _Batch()
    proc._apply_entry(_holder(), sj.SetStateCommand(key="count", value=value), 1, b)
    return b


async def test_a_read_racing_a_write_is_returned_but_not_cached() -> None:
    proc, store = _processor()
    read = asyncio.ensure_future(proc.object_state(KEY))
    await asyncio.sleep(0)
    _set_count(proc, b"2")  # computed while the read is in flight
    store.gate.set()
    assert await read == {"count": b"1"}
    assert KEY not in proc.state_cache


async def test_a_read_started_before_a_computed_write_is_applied_is_not_cached() -> None:
    proc, store = _processor()
    b = _set_count(proc, b"2")
    proc._unapplied_writes.update(b.state_keys)  # as _apply_decoded does until apply returns
    read = asyncio.ensure_future(proc.object_state(KEY))
    await asyncio.sleep(0)
    proc._unapplied_writes.subtract(b.state_keys)
    del proc._unapplied_writes[KEY]
    store.gate.set()
    await read
    assert KEY not in proc.state_cache


async def test_a_quiet_read_is_cached() -> None:
    proc, store = _processor()
    store.gate.set()
    assert await proc.object_state(KEY) == {"count": b"1"}
    assert proc.state_cache[KEY] == {"count": b"1"}
    assert proc._state_written == {}
