"""The near-horizon bookkeeping of the timer wheel: bounded memory, refill, exact dedupe.

A model sorted set (a dict; the real Redis set is exercised by the integration
tests) plays Redis so the horizon's claims can be checked after every step.
"""

from __future__ import annotations

import random

import pytest

from runtime.timers.horizon import NOTHING, Horizon, RefillRequest


class Zset:
    """The partition's timers sorted set, as the horizon must see it."""

    def __init__(self) -> None:
        self.items: dict[bytes, int] = {}

    def range(self, req: RefillRequest) -> list[tuple[bytes, float]]:
        keys = sorted((d, m) for m, d in self.items.items() if req.min_ms <= d <= req.max_ms)
        return [(m, float(d)) for d, m in keys[: req.limit]]


def refill(h: Horizon, z: Zset, now: int) -> bool:
    req = h.refill_request(now)
    if req is None:
        return False
    h.merge(z.range(req), req)
    return True


def check(h: Horizon, z: Zset) -> None:
    assert len(h.members) <= h.cap
    for m, d in h.members.items():
        assert z.items.get(m) == d, "a timer in memory must be pending"
    for m, d in z.items.items():
        if (d, m) <= h.horizon:
            assert m in h.members, "every pending timer within the horizon is in memory"


def fire_and_take(h: Horizon, z: Zset, now: int) -> list[bytes]:
    """Fire what is due and apply the TimerFired records (prefetch, take, ZREM)."""
    fired = h.pop_due(now)
    assert all(z.items.get(m, now) <= now for m in fired), "never fired before due"
    unknown = h.unknown(fired)
    h.learn(unknown, [m in z.items for m in unknown])
    taken = []
    for m in fired:
        if h.take(m):
            del z.items[m]
            taken.append(m)
    return taken


def test_reads_only_the_window_and_fires_in_due_order() -> None:
    h, z = Horizon(cap=100, window_ms=1000), Zset()
    z.items = {b"late": 5000, b"b": 200, b"a": 100}
    assert refill(h, z, now=0)
    assert set(h.members) == {b"a", b"b"}
    assert h.horizon == (1001, b"")
    check(h, z)
    assert h.pop_due(99) == []
    assert fire_and_take(h, z, 250) == [b"a", b"b"]
    assert not refill(h, z, now=400), "no read until half the window is used"
    assert refill(h, z, now=4500)
    assert b"late" in h.members
    check(h, z)


def test_cap_bounds_memory_and_ties_at_one_millisecond_all_fire() -> None:
    h, z = Horizon(cap=8, window_ms=1000), Zset()
    z.items = {f"t{i:03}".encode(): 10 for i in range(50)}  # 50 timers due in the same ms
    seen: list[bytes] = []
    now = 0
    for _ in range(200):
        refill(h, z, now)
        check(h, z)
        seen += fire_and_take(h, z, now)
        check(h, z)
        now += 5
        if not z.items:
            break
    assert sorted(seen) == sorted(f"t{i:03}".encode() for i in range(50))
    assert len(seen) == len(set(seen)) == 50
    assert h.high_water <= 8


def test_add_inside_horizon_is_held_beyond_only_in_redis() -> None:
    h, z = Horizon(cap=100, window_ms=1000), Zset()
    refill(h, z, now=0)
    z.items[b"soon"] = 500
    assert h.add(500, b"soon")
    z.items[b"far"] = 60_000
    assert not h.add(60_000, b"far")
    check(h, z)
    assert b"far" not in h.members


def test_add_beyond_horizon_then_fired_in_the_same_batch_is_taken_once() -> None:
    h = Horizon(cap=100, window_ms=1000)
    h.unknown([])
    assert not h.add(60_000, b"far")
    assert h.take(b"far")
    assert not h.take(b"far")


def test_add_at_cap_evicts_the_latest_quarter_and_pulls_the_horizon_in() -> None:
    h, z = Horizon(cap=8, window_ms=10_000), Zset()
    refill(h, z, now=0)
    for i in range(8):
        z.items[bytes([65 + i])] = 100 + i
        assert h.add(100 + i, bytes([65 + i]))
    z.items[b"Z"] = 50
    assert h.add(50, b"Z")
    assert len(h.members) <= 8
    assert h.horizon < (107, b"H")
    check(h, z)
    # The evicted ones come back from Redis once there is room.
    fire_and_take(h, z, 104)
    assert refill(h, z, now=104)
    assert {b"F", b"G", b"H"} <= set(h.members)
    check(h, z)


def test_duplicate_timer_fired_is_taken_once_even_when_not_in_memory() -> None:
    h, z = Horizon(cap=4, window_ms=1000), Zset()
    z.items = {b"x": 10}
    # Another owner fired x; this owner has not read it (it is beyond its horizon).
    unknown = h.unknown([b"x", b"x"])
    assert unknown == [b"x"]
    h.learn(unknown, [True])
    assert h.take(b"x")
    del z.items[b"x"]
    assert not h.take(b"x")
    unknown = h.unknown([b"x"])
    h.learn(unknown, [b"x" in z.items])
    assert not h.take(b"x")


def test_timer_in_memory_evicted_while_its_batch_is_computed_is_still_taken() -> None:
    h, z = Horizon(cap=4, window_ms=1000), Zset()
    for i, m in enumerate([b"a", b"b", b"c", b"d"]):
        z.items[m] = 100 + i
    refill(h, z, now=0)
    assert h.unknown([b"d"]) == []  # in memory: known pending without asking Redis
    z.items[b"e"] = 1
    h.add(1, b"e")  # evicts d
    assert b"d" not in h.members
    assert h.take(b"d")


def test_unfired_after_a_failed_append_fires_again() -> None:
    h, z = Horizon(cap=4, window_ms=1000), Zset()
    z.items = {b"a": 5}
    refill(h, z, now=0)
    assert h.pop_due(10) == [b"a"]
    assert h.pop_due(10) == []
    h.unfire(b"a")
    assert h.pop_due(10) == [b"a"]


def test_all_fired_at_cap_an_add_stays_in_redis() -> None:
    h, z = Horizon(cap=4, window_ms=10_000), Zset()
    for i in range(4):
        z.items[bytes([65 + i])] = i
    refill(h, z, now=0)
    assert len(h.pop_due(100)) == 4
    z.items[b"Z"] = 1
    assert not h.add(1, b"Z")
    assert h.horizon == NOTHING
    assert len(h.members) == 4
    check(h, z)


@pytest.mark.parametrize("seed", range(20))
def test_random_schedule_fires_everything_exactly_once_within_cap(seed: int) -> None:
    rnd = random.Random(seed)
    h, z = Horizon(cap=rnd.choice([4, 8, 16, 64]), window_ms=rnd.choice([10, 100, 1000])), Zset()
    expected: set[bytes] = set()
    taken: list[bytes] = []
    now, n = 0, 0
    for _ in range(400):
        for _ in range(rnd.randint(0, 6)):  # a batch that adds timers
            due = now + rnd.choice([0, 1, 5, 50, 500, 5000])
            member = f"m{n}".encode()
            n += 1
            h.unknown([])
            z.items[member] = due
            h.add(due, member)
            expected.add(member)
        if rnd.random() < 0.2 and taken:  # a duplicate TimerFired of something taken
            dup = rnd.choice(taken)
            h.learn(h.unknown([dup]), [dup in z.items])
            assert not h.take(dup)
        refill(h, z, now)
        check(h, z)
        got = fire_and_take(h, z, now)
        taken += got
        check(h, z)
        now += rnd.choice([1, 3, 20, 200])
    for _ in range(20_000):
        if not z.items:
            break
        refill(h, z, now)
        taken += fire_and_take(h, z, now)
        check(h, z)
        now += 50
    assert len(taken) == len(set(taken))
    assert set(taken) == expected
    assert h.high_water <= h.cap


def test_rejects_silly_sizes() -> None:
    with pytest.raises(ValueError, match="cap"):
        Horizon(cap=1, window_ms=1000)
    with pytest.raises(ValueError, match="window"):
        Horizon(cap=10, window_ms=0)
