"""The store reads the timer wheel uses, against the real Redis."""

from __future__ import annotations

from runtime.state.store import PartitionStore, ZAdd


async def test_timers_between_orders_by_due_then_member_and_limits(store: PartitionStore) -> None:
    await store.claim(0)
    epoch = await store.claim(0)
    ops = [ZAdd(store.keys(0).timers, float(d), m) for m, d in
           [(b"b", 10), (b"a", 10), (b"c", 5), (b"z", 50), (b"late", 10_000)]]  # fmt: skip
    await store.apply(0, epoch, 1, ops)
    assert await store.timers_between(0, 0, 100, 10) == [
        (b"c", 5.0), (b"a", 10.0), (b"b", 10.0), (b"z", 50.0)
    ]  # fmt: skip
    assert await store.timers_between(0, 10, 100, 2) == [(b"a", 10.0), (b"b", 10.0)]
    assert await store.timers_between(0, 11, 49, 10) == []
    assert await store.timers_between(0, 0, 100, 0) == []
    assert await store.timers_pending(0, [b"a", b"nope", b"late"]) == [True, False, True]
    assert await store.timers_pending(0, []) == []
