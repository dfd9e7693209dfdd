"""The partition store against the real Redis: atomic, idempotent (invariant 1), fenced (2)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from runtime.devstack import process
from runtime.settings import Settings
from runtime.state import pipelined
from runtime.state.keys import KeyKind, PartitionKeys
from runtime.state.store import (
    ApplyResult,
    Delete,
    FencedError,
    HDel,
    HSet,
    InvalidOpsError,
    LPop,
    LRem,
    LTrim,
    Op,
    PartitionStore,
    PExpire,
    RetryPolicy,
    RPush,
    Set,
    StoreError,
    StoreUnavailableError,
    ZAdd,
    ZRem,
    ZTrim,
)
from tests.conftest import Infra
from tests.integration.state.conftest import FAST_RETRY

P = 3

HOSTILE = ["", "/", "a/b", "{", "}", "{p1}", "}{", "a}b{c", ":", "%", "%2F", "*", "?", "[a]",
           "\\", " ", "\x00", "é", "日本", "🦀"]  # fmt: skip


def state_snapshot(r: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key of the test's prefix with its type and value, to compare before/after."""
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(match=f"{prefix}:*", count=1000):
        kind = r.type(key)
        if kind == b"string":
            out[key] = r.get(key)
        elif kind == b"hash":
            out[key] = r.hgetall(key)
        elif kind == b"list":
            out[key] = r.lrange(key, 0, -1)
        elif kind == b"zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = kind
    return out


# ----------------------------------------------------------------------------- apply


async def test_claim_and_position(store: PartitionStore) -> None:
    assert await store.position(P) == (0, -1)
    assert await store.claim(P) == 1
    assert await store.claim(P) == 2
    assert await store.position(P) == (2, -1)
    assert await store.position(P + 1) == (0, -1)


async def test_apply_runs_ops_and_sets_offset(
    store: PartitionStore, redis_client: redis.Redis
) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    ops: list[Op] = [
        Set(k.inv("i1"), b"status"),
        RPush(k.journal("i1"), [b"e0", b"e1"]),
        HSet(k.active, "i1", b"1"),
        HSet(k.state("Counter", "a"), "count", b"1"),
        ZAdd(k.timers, 1000.0, b"t1"),
        HSet(k.meta, "leader", b"1"),
    ]
    assert await store.apply(P, epoch, 41, ops) is ApplyResult.APPLIED
    assert await store.position(P) == (epoch, 41)
    assert redis_client.get(k.inv("i1")) == b"status"
    assert redis_client.lrange(k.journal("i1"), 0, -1) == [b"e0", b"e1"]
    assert redis_client.hgetall(k.active) == {b"i1": b"1"}
    assert redis_client.hgetall(k.state("Counter", "a")) == {b"count": b"1"}
    assert redis_client.zrange(k.timers, 0, -1, withscores=True) == [(b"t1", 1000.0)]
    assert redis_client.hget(k.meta, "leader") == b"1"


async def test_empty_batch_moves_the_offset(store: PartitionStore) -> None:
    epoch = await store.claim(P)
    assert await store.apply(P, epoch, 0, []) is ApplyResult.APPLIED
    assert await store.position(P) == (epoch, 0)
    assert await store.apply(P, epoch, 7, ()) is ApplyResult.APPLIED
    assert await store.position(P) == (epoch, 7)


async def test_reapplying_same_or_lower_offset_is_a_noop(
    store: PartitionStore, redis_client: redis.Redis, prefix: str
) -> None:
    """Invariant 1: a re-delivered batch changes nothing, not even with different ops."""
    k = store.keys(P)
    epoch = await store.claim(P)
    batch: list[Op] = [RPush(k.journal("i1"), [b"e0"]), Set(k.inv("i1"), b"v1")]
    assert await store.apply(P, epoch, 10, batch) is ApplyResult.APPLIED
    before = state_snapshot(redis_client, prefix)

    assert await store.apply(P, epoch, 10, batch) is ApplyResult.ALREADY_APPLIED
    assert (await store.apply(P, epoch, 10, batch)).already_applied
    assert (
        await store.apply(P, epoch, 9, [Set(k.inv("i1"), b"other")]) is ApplyResult.ALREADY_APPLIED
    )
    assert await store.apply(P, epoch, 0, [Delete(k.inv("i1"))]) is ApplyResult.ALREADY_APPLIED
    assert state_snapshot(redis_client, prefix) == before
    assert redis_client.lrange(k.journal("i1"), 0, -1) == [b"e0"]  # not appended twice

    assert await store.apply(P, epoch, 11, batch) is ApplyResult.APPLIED
    assert redis_client.lrange(k.journal("i1"), 0, -1) == [b"e0", b"e0"]
    assert await store.position(P) == (epoch, 11)


async def test_stale_owner_is_fenced_and_changes_nothing(
    infra: Infra, store: PartitionStore, redis_client: redis.Redis, prefix: str
) -> None:
    """Invariant 2: after another owner claims, the old one can write nothing."""
    k = store.keys(P)
    old_epoch = await store.claim(P)
    assert await store.apply(P, old_epoch, 5, [Set(k.inv("i1"), b"old")]) is ApplyResult.APPLIED

    async with await PartitionStore.connect(infra.redis_url, prefix=prefix) as new_owner:
        new_epoch = await new_owner.claim(P)
        assert new_epoch == old_epoch + 1
        before = state_snapshot(redis_client, prefix)

        for offset in (6, 5, 1000):
            with pytest.raises(FencedError) as caught:
                await store.apply(P, old_epoch, offset, [Set(k.inv("i1"), b"zombie")])
            assert caught.value.partition == P
            assert caught.value.epoch == old_epoch
            assert caught.value.current_epoch == new_epoch
            assert f"partition {P}" in str(caught.value) and "another owner" in str(caught.value)
        assert state_snapshot(redis_client, prefix) == before
        assert await store.position(P) == (new_epoch, 5)

        assert (
            await new_owner.apply(P, new_epoch, 6, [Set(k.inv("i1"), b"new")])
            is ApplyResult.APPLIED
        )
        assert redis_client.get(k.inv("i1")) == b"new"
        # A newer epoch than Redis knows is fenced too: Redis lost state or the caller is confused.
        with pytest.raises(FencedError, match="lost"):
            await new_owner.apply(P, new_epoch + 1, 7, [])
    # Fencing is per partition: the old owner's other partitions are unaffected.
    other = await store.claim(P + 1)
    assert await store.apply(P + 1, other, 1, []) is ApplyResult.APPLIED


async def test_apply_without_claim_is_fenced(store: PartitionStore) -> None:
    with pytest.raises(FencedError) as caught:
        await store.apply(P, 1, 0, [])
    assert caught.value.current_epoch == 0
    with pytest.raises(ValueError, match="epoch"):
        await store.apply(P, 0, 0, [])
    with pytest.raises(ValueError, match="offset"):
        await store.apply(P, 1, -1, [])


def _prep_list(r: redis.Redis, k: PartitionKeys) -> None:
    r.rpush(k.journal("i"), b"a", b"b", b"a", b"c", b"a")


def _prep_hash(r: redis.Redis, k: PartitionKeys) -> None:
    r.hset(k.state("S", "o"), mapping={"f": b"1", "g": b"2"})


def _prep_zset(r: redis.Redis, k: PartitionKeys) -> None:
    r.zadd(k.timers, {b"m1": 1.0, b"m2": 2.0})


def _prep_history(r: redis.Redis, k: PartitionKeys) -> None:
    r.zadd(k.history_expiry, {b"a": 10.0, b"b": 20.0, b"c": 30.0, b"d": 40.0})
    r.zadd(k.history, {b"a": 1.0, b"b": 2.0, b"c": 3.0, b"d": 4.0, b"x": 5.0})


def _prep_string(r: redis.Redis, k: PartitionKeys) -> None:
    r.set(k.inv("i"), b"old")


Prep = Callable[[redis.Redis, PartitionKeys], None]
Check = Callable[[redis.Redis, PartitionKeys], bool]
ROUND_TRIPS: list[tuple[str, Prep | None, Callable[[PartitionKeys], Op], Check]] = [
    (
        "set",
        None,
        lambda k: Set(k.inv("i"), b"\x00\xffbin"),
        lambda r, k: r.get(k.inv("i")) == b"\x00\xffbin",
    ),
    (
        "set-overwrites-ttl",
        _prep_string,
        lambda k: Set(k.inv("i"), b"new"),
        lambda r, k: r.get(k.inv("i")) == b"new" and r.pttl(k.inv("i")) == -1,
    ),
    (
        "set-big",
        None,
        lambda k: Set(k.inv("i"), b"x" * 100_000),
        lambda r, k: r.strlen(k.inv("i")) == 100_000,
    ),
    ("set-empty", None, lambda k: Set(k.inv("i"), b""), lambda r, k: r.get(k.inv("i")) == b""),
    (
        "delete",
        _prep_hash,
        lambda k: Delete(k.state("S", "o")),
        lambda r, k: not r.exists(k.state("S", "o")),
    ),
    (
        "delete-missing",
        None,
        lambda k: Delete(k.inv("nope")),
        lambda r, k: not r.exists(k.inv("nope")),
    ),
    (
        "hset",
        _prep_hash,
        lambda k: HSet(k.state("S", "o"), "f", b"9"),
        lambda r, k: r.hgetall(k.state("S", "o")) == {b"f": b"9", b"g": b"2"},
    ),
    (
        "hset-bytes-field",
        None,
        lambda k: HSet(k.state("S", "o"), b"\xff\x00", b"v"),
        lambda r, k: r.hgetall(k.state("S", "o")) == {b"\xff\x00": b"v"},
    ),
    (
        "hset-unicode-field",
        None,
        lambda k: HSet(k.state("S", "o"), "é🦀", b"v"),
        lambda r, k: r.hgetall(k.state("S", "o")) == {"é🦀".encode(): b"v"},
    ),
    (
        "hdel",
        _prep_hash,
        lambda k: HDel(k.state("S", "o"), "f"),
        lambda r, k: r.hgetall(k.state("S", "o")) == {b"g": b"2"},
    ),
    (
        "hdel-missing",
        None,
        lambda k: HDel(k.state("S", "o"), "f"),
        lambda r, k: not r.exists(k.state("S", "o")),
    ),
    (
        "rpush",
        _prep_list,
        lambda k: RPush(k.journal("i"), [b"d", b"e"]),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [b"a", b"b", b"a", b"c", b"a", b"d", b"e"],
    ),
    (
        "rpush-empty",
        None,
        lambda k: RPush(k.journal("i"), []),
        lambda r, k: not r.exists(k.journal("i")),
    ),
    (
        "rpush-many",
        None,
        lambda k: RPush(k.journal("i"), [str(i).encode() for i in range(5000)]),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [str(i).encode() for i in range(5000)],
    ),
    (
        "lpop",
        _prep_list,
        lambda k: LPop(k.journal("i")),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [b"b", b"a", b"c", b"a"],
    ),
    (
        "lpop-missing",
        None,
        lambda k: LPop(k.journal("i")),
        lambda r, k: not r.exists(k.journal("i")),
    ),
    (
        "lrem-all",
        _prep_list,
        lambda k: LRem(k.journal("i"), b"a"),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [b"b", b"c"],
    ),
    (
        "lrem-head",
        _prep_list,
        lambda k: LRem(k.journal("i"), b"a", 1),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [b"b", b"a", b"c", b"a"],
    ),
    (
        "lrem-tail",
        _prep_list,
        lambda k: LRem(k.journal("i"), b"a", -2),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [b"a", b"b", b"c"],
    ),
    (
        "ltrim-keep-head",
        _prep_list,
        lambda k: LTrim(k.journal("i"), 0, 1),
        lambda r, k: r.lrange(k.journal("i"), 0, -1) == [b"a", b"b"],
    ),
    (
        "ltrim-missing",
        None,
        lambda k: LTrim(k.journal("i"), 0, 1),
        lambda r, k: not r.exists(k.journal("i")),
    ),
    (
        "zadd",
        _prep_zset,
        lambda k: ZAdd(k.timers, 1.5, b"m3"),
        lambda r, k: (
            r.zrange(k.timers, 0, -1, withscores=True) == [(b"m1", 1.0), (b"m3", 1.5), (b"m2", 2.0)]
        ),
    ),
    (
        "zadd-update",
        _prep_zset,
        lambda k: ZAdd(k.timers, 0.5, b"m2"),
        lambda r, k: r.zrange(k.timers, 0, -1, withscores=True) == [(b"m2", 0.5), (b"m1", 1.0)],
    ),
    (
        "zadd-precise",
        None,
        lambda k: ZAdd(k.timers, 1763456789123.5, b"m"),
        lambda r, k: r.zscore(k.timers, b"m") == 1763456789123.5,
    ),
    (
        "zadd-tiny",
        None,
        lambda k: ZAdd(k.timers, 0.1, b"m"),
        lambda r, k: r.zscore(k.timers, b"m") == 0.1,
    ),
    (
        "zadd-int-score",
        None,
        lambda k: ZAdd(k.timers, 1763456789123, b"m"),
        lambda r, k: r.zscore(k.timers, b"m") == 1763456789123.0,
    ),
    (
        "zadd-inf",
        None,
        lambda k: ZAdd(k.timers, float("inf"), b"m"),
        lambda r, k: r.zscore(k.timers, b"m") == float("inf"),
    ),
    (
        "zrem",
        _prep_zset,
        lambda k: ZRem(k.timers, b"m1"),
        lambda r, k: r.zrange(k.timers, 0, -1) == [b"m2"],
    ),
    (
        "ztrim",
        _prep_history,
        lambda k: ZTrim(k.history_expiry, k.history, 30.0, 100),
        lambda r, k: (
            r.zrange(k.history_expiry, 0, -1) == [b"d"]
            and r.zrange(k.history, 0, -1) == [b"d", b"x"]
        ),
    ),
    (
        "ztrim-limit",
        _prep_history,
        lambda k: ZTrim(k.history_expiry, k.history, 1e15, 2),
        lambda r, k: (
            r.zrange(k.history_expiry, 0, -1) == [b"c", b"d"]
            and r.zrange(k.history, 0, -1) == [b"c", b"d", b"x"]
        ),
    ),
    (
        "ztrim-nothing-due",
        _prep_history,
        lambda k: ZTrim(k.history_expiry, k.history, 5.0, 100),
        lambda r, k: r.zcard(k.history_expiry) == 4 and r.zcard(k.history) == 5,
    ),
    (
        "ztrim-missing",
        None,
        lambda k: ZTrim(k.history_expiry, k.history, 5.0, 100),
        lambda r, k: not r.exists(k.history_expiry) and not r.exists(k.history),
    ),
    (
        "pexpire",
        _prep_string,
        lambda k: PExpire(k.inv("i"), 86_400_000),
        lambda r, k: 86_000_000 < r.pttl(k.inv("i")) <= 86_400_000,
    ),
    (
        "pexpire-64bit",
        _prep_string,
        lambda k: PExpire(k.inv("i"), 2**40),
        lambda r, k: r.pttl(k.inv("i")) > 2**39,
    ),
    (
        "pexpire-now",
        _prep_string,
        lambda k: PExpire(k.inv("i"), 0),
        lambda r, k: not r.exists(k.inv("i")),
    ),
    (
        "pexpire-missing",
        None,
        lambda k: PExpire(k.inv("nope"), 10),
        lambda r, k: not r.exists(k.inv("nope")),
    ),
]


@pytest.mark.parametrize(
    ("prep", "make", "check"), [t[1:] for t in ROUND_TRIPS], ids=[t[0] for t in ROUND_TRIPS]
)
async def test_every_op_round_trips(
    store: PartitionStore,
    redis_client: redis.Redis,
    prep: Callable[[redis.Redis, PartitionKeys], None] | None,
    make: Callable[[PartitionKeys], Op],
    check: Callable[[redis.Redis, PartitionKeys], bool],
) -> None:
    k = store.keys(P)
    if prep is not None:
        prep(redis_client, k)
    epoch = await store.claim(P)
    assert await store.apply(P, epoch, 1, [make(k)]) is ApplyResult.APPLIED
    assert check(redis_client, k)


async def test_ops_run_in_order_within_a_batch(
    store: PartitionStore, redis_client: redis.Redis
) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    key = k.state("S", "o")
    ops: list[Op] = [
        HSet(key, "a", b"1"),
        Delete(key),
        HSet(key, "b", b"2"),
        Set(k.inv("i"), b"x"),
        Delete(k.inv("i")),
        RPush(k.inbox("S", "o"), [b"i1", b"i2"]),
        LPop(k.inbox("S", "o")),
        Set(k.lock("S", "o"), b"i2"),  # a key that was a hash earlier in no batch: fine
    ]
    assert await store.apply(P, epoch, 1, ops) is ApplyResult.APPLIED
    assert redis_client.hgetall(key) == {b"b": b"2"}
    assert not redis_client.exists(k.inv("i"))
    assert redis_client.lrange(k.inbox("S", "o"), 0, -1) == [b"i2"]
    assert redis_client.get(k.lock("S", "o")) == b"i2"
    # Type changes the script can follow within a batch: DEL, then another type.
    ops = [Delete(key), RPush(key, [b"now a list"]), Delete(key), Set(key, b"now a string")]
    assert await store.apply(P, epoch, 2, ops) is ApplyResult.APPLIED
    assert redis_client.get(key) == b"now a string"


BAD_BATCHES: list[tuple[str, Callable[[PartitionKeys], list[Any]], str]] = [
    ("foreign-prefix", lambda k: [Set("other:{p3}:inv:x", b"v")], "outside the partition"),
    (
        "foreign-partition",
        lambda k: [Set(PartitionKeys(k.prefix, P + 1).inv("x"), b"v")],
        "outside the partition",
    ),
    ("prefix-lookalike", lambda k: [Set(k.prefix + "x:{p3}:inv:x", b"v")], "outside the partition"),
    ("meta-epoch", lambda k: [HSet(k.meta, "epoch", b"99")], "reserved"),
    ("meta-applied", lambda k: [HDel(k.meta, "applied")], "reserved"),
    ("meta-token", lambda k: [HSet(k.meta, "applied_token", b"x")], "reserved"),
    ("meta-delete", lambda k: [Delete(k.meta)], "reserved"),
    ("meta-expire", lambda k: [PExpire(k.meta, 1)], "reserved"),
    (
        "wrong-type-list-on-string",
        lambda k: [RPush(k.inv("s"), [b"x"])],
        "holds a string, not a list",
    ),
    (
        "wrong-type-in-batch",
        lambda k: [Set(k.state("S", "o"), b"x"), HSet(k.state("S", "o"), "f", b"v")],
        "not a hash",
    ),
    ("wrong-type-zset-on-hash", lambda k: [ZAdd(k.state("S", "h"), 1.0, b"m")], "holds a hash"),
    ("nan-score", lambda k: [ZAdd(k.timers, float("nan"), b"m")], "score"),
    ("float-ms", lambda k: [PExpire(k.inv("s"), 1.5)], "ms must be an int"),  # type: ignore[arg-type]
    (
        "float-ltrim",
        lambda k: [LTrim(k.journal("i"), 0, 1.5)],  # type: ignore[arg-type]
        "start and stop must be ints",
    ),
    (
        "ztrim-foreign-key",
        lambda k: [ZTrim(k.history_expiry, "other:{p3}:history", 1.0, 10)],
        "second key outside the partition",
    ),
    (
        "ztrim-meta",
        lambda k: [ZTrim(k.history_expiry, k.meta, 1.0, 10)],
        "second key outside the partition",
    ),
    (
        "ztrim-second-not-zset",
        lambda k: [ZTrim(k.history_expiry, k.inv("s"), 1.0, 10)],
        "holds a string, not a zset",
    ),
    ("ztrim-zero-limit", lambda k: [ZTrim(k.history_expiry, k.history, 1.0, 0)], "limit"),
    ("none-value", lambda k: [Set(k.inv("s"), None)], "bytes or str"),  # type: ignore[arg-type]
    ("list-value", lambda k: [HSet(k.state("S", "h"), "f", [b"x"])], "bytes or str"),  # type: ignore[arg-type]
    ("bool-value", lambda k: [Set(k.inv("s"), True)], "bytes or str"),  # type: ignore[arg-type]
    ("none-in-rpush", lambda k: [RPush(k.journal("j"), [b"ok", None, b"ok"])], "bytes or str"),  # type: ignore[list-item]
    ("non-bytes-in-rpush", lambda k: [RPush(k.journal("j"), [b"ok", [b"nested"]])], "bytes or str"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("make", "why"), [t[1:] for t in BAD_BATCHES], ids=[t[0] for t in BAD_BATCHES]
)
async def test_invalid_batches_are_rejected_whole(
    store: PartitionStore,
    redis_client: redis.Redis,
    prefix: str,
    make: Callable[[PartitionKeys], list[Op]],
    why: str,
) -> None:
    """A bad op anywhere in a batch writes nothing at all: earlier ops, offset, nothing."""
    k = store.keys(P)
    redis_client.set(k.inv("s"), b"string")
    redis_client.hset(k.state("S", "h"), "f", b"v")
    epoch = await store.claim(P)
    assert await store.apply(P, epoch, 1, [Set(k.inv("before"), b"1")]) is ApplyResult.APPLIED
    before = state_snapshot(redis_client, prefix)
    bad = make(k)  # the offending op is the last of these
    batch: list[Op] = [
        Set(k.inv("a"), b"1"),
        RPush(k.journal("a"), [b"e"]),
        HSet(k.active, "a", b"1"),
        *bad,
        Set(k.inv("z"), b"1"),
    ]
    with pytest.raises(InvalidOpsError, match=why) as caught:
        await store.apply(P, epoch, 2, batch)
    assert f"op #{2 + len(bad)}:" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert state_snapshot(redis_client, prefix) == before
    assert await store.position(P) == (epoch, 1)
    assert not redis_client.exists(PartitionKeys(k.prefix, P + 1).inv("x"))


async def test_readers_never_see_a_partial_batch(infra: Infra, store: PartitionStore) -> None:
    """Each apply is one script: a concurrent MULTI reader sees a batch entirely or not at all."""
    k = store.keys(P)
    epoch = await store.claim(P)
    keys = [k.state("S", f"o{i}") for i in range(50)]
    reader = aioredis.Redis.from_url(infra.redis_url)
    stop = asyncio.Event()
    seen: list[int] = []

    async def read() -> None:
        while not stop.is_set():
            async with reader.pipeline(transaction=True) as pipe:
                pipe.hget(k.meta, "applied")
                for key in keys:
                    pipe.hget(key, "v")
                applied, *values = await pipe.execute()
            if applied is None:
                assert set(values) == {None}
                continue
            assert set(values) == {applied}, (applied, values)
            seen.append(int(applied))

    task = asyncio.create_task(read())
    try:
        for offset in range(200):
            await store.apply(
                P, epoch, offset, [HSet(key, "v", str(offset).encode()) for key in keys]
            )
            await asyncio.sleep(0)
    finally:
        stop.set()
        await task
        await reader.aclose()
    assert len(set(seen)) > 10, "the reader should have observed many batches"


async def test_large_batch(store: PartitionStore, redis_client: redis.Redis) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    ops: list[Op] = []
    for i in range(20_000):
        inv = f"inv_{i % 500}"
        ops.append(RPush(k.journal(inv), [b"e" * 100]))
        ops.append(HSet(k.active, inv, b"1"))
    assert await store.apply(P, epoch, 99, ops) is ApplyResult.APPLIED
    assert redis_client.llen(k.journal("inv_0")) == 40
    assert redis_client.hlen(k.active) == 500


# ----------------------------------------------------------------------------- hostile keys


async def test_hostile_keys_stay_in_the_partition_slot(
    store: PartitionStore, cluster_node: redis.Redis
) -> None:
    """CLUSTER KEYSLOT (a cluster-mode node: Redis 7.0 refuses it otherwise) agrees for all keys."""
    k = store.keys(P)
    slot = cluster_node.cluster("KEYSLOT", k.meta)
    assert slot == cluster_node.cluster("KEYSLOT", f"p{P}")
    assert slot != cluster_node.cluster("KEYSLOT", PartitionKeys(k.prefix, P + 1).meta)
    built = [k.meta, k.active, k.outbox, k.timers]
    for service in HOSTILE:
        built.append(k.inv(service))
        built.append(k.journal(service))
        for key in HOSTILE:
            built.extend(f(service, key) for f in (k.lock, k.inbox, k.state, k.promise))
    with cluster_node.pipeline(transaction=False) as pipe:
        for key in built:
            pipe.cluster("KEYSLOT", key)
        slots = pipe.execute()
    bad = [key for key, s in zip(built, slots, strict=True) if s != slot]
    assert not bad, bad[:5]


async def test_hostile_keys_do_not_collide(
    store: PartitionStore, redis_client: redis.Redis
) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    pairs = [(s, key) for s in HOSTILE for key in HOSTILE]
    names = {k.state(s, key) for s, key in pairs}
    assert len(names) == len(pairs)
    ops: list[Op] = [HSet(k.state(s, key), "who", f"{s}\x00{key}".encode()) for s, key in pairs]
    ops += [Set(k.inv(s), s.encode()) for s in HOSTILE]
    assert await store.apply(P, epoch, 1, ops) is ApplyResult.APPLIED
    values = await store.hgetall_many([k.state(s, key) for s, key in pairs])
    assert [v[b"who"] for v in values] == [f"{s}\x00{key}".encode() for s, key in pairs]
    assert await store.mget([k.inv(s) for s in HOSTILE]) == [s.encode() for s in HOSTILE]
    found = await store.scan_prefix(P, KeyKind.STATE)
    assert sorted(k.object_of(key) for key in found) == sorted(pairs)
    found = await store.scan_prefix(P, KeyKind.INV)
    assert sorted(k.invocation_id_of(key) for key in found) == sorted(HOSTILE)


# ----------------------------------------------------------------------------- reads


async def test_reads(store: PartitionStore) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    ops: list[Op] = [
        Set(k.inv("a"), b"A"),
        Set(k.inv("b"), b"B"),
        HSet(k.state("S", "x"), "f", b"1"),
        HSet(k.state("S", "x"), b"\xff", b"2"),
        HSet(k.state("S", "y"), "g", b"3"),
        RPush(k.journal("a"), [b"e0", b"e1"]),
        RPush(k.journal("b"), [b"f0"]),
    ]
    await store.apply(P, epoch, 1, ops)
    assert await store.get(k.inv("a")) == b"A"
    assert await store.get(k.inv("missing")) is None
    assert await store.mget([k.inv("a"), k.inv("missing"), k.inv("b")]) == [b"A", None, b"B"]
    assert await store.mget([]) == []
    assert await store.hgetall(k.state("S", "x")) == {b"f": b"1", b"\xff": b"2"}
    assert await store.hgetall(k.state("S", "missing")) == {}
    assert await store.hgetall_many(
        [k.state("S", "y"), k.state("S", "missing"), k.state("S", "x")]
    ) == [
        {b"g": b"3"},
        {},
        {b"f": b"1", b"\xff": b"2"},
    ]
    assert await store.hgetall_many([]) == []
    assert await store.lrange_all(k.journal("a")) == [b"e0", b"e1"]
    assert await store.lrange_all(k.journal("missing")) == []
    assert await store.lrange_many([k.journal("b"), k.journal("missing"), k.journal("a")]) == [
        [b"f0"],
        [],
        [b"e0", b"e1"],
    ]


async def test_due_timers(store: PartitionStore) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    ops: list[Op] = [ZAdd(k.timers, float(1000 + i * 10), f"t{i}".encode()) for i in range(10)]
    await store.apply(P, epoch, 1, ops)
    assert await store.due_timers(P, 999, 100) == []
    assert await store.due_timers(P, 1000, 100) == [(b"t0", 1000.0)]  # inclusive
    assert await store.due_timers(P, 1035, 100) == [
        (b"t0", 1000.0),
        (b"t1", 1010.0),
        (b"t2", 1020.0),
        (b"t3", 1030.0),
    ]
    assert [m for m, _ in await store.due_timers(P, 10**15, 3)] == [b"t0", b"t1", b"t2"]
    assert await store.due_timers(P, 10**15, 0) == []
    assert await store.due_timers(P + 1, 10**15, 10) == []


async def test_scan_prefix_is_exact(infra: Infra, store: PartitionStore, prefix: str) -> None:
    """Partition 1 is not partition 10; ids with glob characters match literally."""
    ids = ["a", "b*", "[c]", "d?", "e\\", "*"]
    for p in (1, 10):
        epoch = await store.claim(p)
        k = store.keys(p)
        ops: list[Op] = [Set(k.inv(f"{i}-{p}"), b"") for i in ids]
        ops += [RPush(k.journal(f"{i}-{p}"), [b"e"]) for i in ids]
        await store.apply(p, epoch, 1, ops)
    async with await PartitionStore.connect(infra.redis_url, prefix=prefix + "x") as other:
        epoch = await other.claim(1)
        await other.apply(1, epoch, 1, [Set(other.keys(1).inv("intruder"), b"")])

    k1 = store.keys(1)
    found = await store.scan_prefix(1, KeyKind.INV, count=2)
    assert found == sorted(k1.inv(f"{i}-1") for i in ids)
    assert sorted(k1.invocation_id_of(key) for key in found) == sorted(f"{i}-1" for i in ids)
    assert await store.scan_prefix(10, "journal") == sorted(
        store.keys(10).journal(f"{i}-10") for i in ids
    )
    assert await store.scan_prefix(2, KeyKind.INV) == []


# ----------------------------------------------------------------------------- connections


def _kill_store_connections(r: redis.Redis, name: str) -> int:
    killed = 0
    for client in r.client_list():
        if client.get("name") == name:
            r.client_kill_filter(_id=client["id"])
            killed += 1
    return killed


async def test_apply_reconnects_after_client_kill(
    store: PartitionStore, redis_client: redis.Redis, prefix: str
) -> None:
    k = store.keys(P)
    epoch = await store.claim(P)
    # Several pooled connections, so more than one is dead afterwards.
    await asyncio.gather(*(store.get(k.inv(str(i))) for i in range(5)))
    assert await store.apply(P, epoch, 1, [Set(k.inv("a"), b"1")]) is ApplyResult.APPLIED
    assert _kill_store_connections(redis_client, f"rt-state-{prefix}") >= 1

    assert await store.apply(P, epoch, 2, [Set(k.inv("a"), b"2")]) is ApplyResult.APPLIED
    assert redis_client.get(k.inv("a")) == b"2"
    assert await store.position(P) == (epoch, 2)

    _kill_store_connections(redis_client, f"rt-state-{prefix}")
    assert await store.get(k.inv("a")) == b"2"
    _kill_store_connections(redis_client, f"rt-state-{prefix}")
    assert await store.claim(P) == epoch + 1


async def test_apply_reloads_the_script_after_script_flush(
    store: PartitionStore, redis_client: redis.Redis
) -> None:
    """Redis does not persist loaded scripts: after a restart EVALSHA says NOSCRIPT."""
    k = store.keys(P)
    epoch = await store.claim(P)
    redis_client.script_flush()
    assert await store.apply(P, epoch, 1, [Set(k.inv("a"), b"1")]) is ApplyResult.APPLIED
    redis_client.script_flush()
    assert await store.apply(P, epoch, 2, [Set(k.inv("a"), b"2")]) is ApplyResult.APPLIED
    assert redis_client.get(k.inv("a")) == b"2"


async def test_applies_of_one_loop_turn_share_a_round_trip_and_keep_their_own_results(
    store: PartitionStore, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partitions applying together go out in one write; a fenced or invalid batch
    fails alone, the others are applied (each EVALSHA stays atomic by itself)."""
    rounds: list[int] = []
    send = pipelined._ReplyProtocol.send

    def spy(self: Any, data: bytes, futs: list[Any]) -> None:
        rounds.append(len(futs))
        send(self, data, futs)

    monkeypatch.setattr(pipelined._ReplyProtocol, "send", spy)
    parts = [10, 11, 12, 13, 14]
    epochs = {p: await store.claim(p) for p in parts}
    await store.claim(13)  # partition 13 has a newer owner: the old epoch is fenced
    results = await asyncio.gather(
        *(
            store.apply(p, epochs[p], 5, [Set(store.keys(p).inv("x"), str(p).encode())])
            for p in (10, 11, 12, 13)
        ),
        store.apply(
            14, epochs[14], 5, [Set(store.keys(14).inv("x"), b"1"), Set("elsewhere", b"1")]
        ),
        return_exceptions=True,
    )
    assert rounds == [5]
    assert results[:3] == [ApplyResult.APPLIED] * 3
    assert isinstance(results[3], FencedError) and results[3].partition == 13
    assert isinstance(results[4], InvalidOpsError)
    for p in (10, 11, 12):
        assert redis_client.get(store.keys(p).inv("x")) == str(p).encode()
        assert await store.position(p) == (epochs[p], 5)
    for p in (13, 14):
        assert not redis_client.exists(store.keys(p).inv("x"))
        assert (await store.position(p))[1] == -1

    # Redis lost its scripts (a restart): every apply of the pipeline reloads and succeeds.
    redis_client.script_flush()
    again = await asyncio.gather(
        *(store.apply(p, epochs[p], 6, [Set(store.keys(p).inv("y"), b"1")]) for p in (10, 11, 12))
    )
    assert again == [ApplyResult.APPLIED] * 3
    assert rounds[1] == 3
    assert all(redis_client.get(store.keys(p).inv("y")) == b"1" for p in (10, 11, 12))


async def test_retry_after_a_lost_reply_reports_applied(
    store: PartitionStore, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script ran but the reply was lost: the retry must not call the batch a re-apply.

    Otherwise the processor would skip the batch's effects (start attempts, answer callers).
    """
    k = store.keys(P)
    epoch = await store.claim(P)
    real = store._evalsha
    calls = 0

    async def lossy(args: tuple[Any, ...]) -> list[Any]:
        nonlocal calls
        calls += 1
        reply = await real(args)
        if calls == 1:
            raise RedisConnectionError("Connection closed by server.")
        return reply

    monkeypatch.setattr(store, "_evalsha", lossy)
    assert await store.apply(P, epoch, 5, [RPush(k.journal("a"), [b"e"])]) is ApplyResult.APPLIED
    assert calls == 2
    assert redis_client.lrange(k.journal("a"), 0, -1) == [b"e"]
    # A genuine re-delivery of the same offset (another apply call) is still a no-op.
    assert (
        await store.apply(P, epoch, 5, [RPush(k.journal("a"), [b"e"])])
        is ApplyResult.ALREADY_APPLIED
    )


async def test_apply_rides_out_a_stalled_redis(
    infra: Infra, prefix: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Replies time out while Redis is paused; the retried apply lands exactly once."""
    store = await PartitionStore.connect(
        infra.redis_url, prefix=prefix, retry=FAST_RETRY, socket_timeout=0.2
    )
    try:
        k = store.keys(P)
        epoch = await store.claim(P)
        redis_client.client_pause(700, all=True)
        with caplog.at_level(logging.WARNING, logger="rt.state"):
            result = await store.apply(P, epoch, 1, [RPush(k.journal("a"), [b"e"])])
        assert result is ApplyResult.APPLIED
        assert any("retrying" in r.getMessage() for r in caplog.records)
        assert redis_client.lrange(k.journal("a"), 0, -1) == [b"e"]
        assert await store.position(P) == (epoch, 1)
    finally:
        redis_client.client_unpause()
        await store.aclose()


async def test_unreachable_redis_fails_clearly_and_boundedly() -> None:
    port = process.free_port()
    policy = RetryPolicy(attempts=4, deadline_s=5.0, initial_backoff_s=0.01, max_backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        await PartitionStore.connect(
            f"redis://:s3cret@127.0.0.1:{port}/0", prefix="t", retry=policy
        )
    assert time.monotonic() - started < 5.0
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "unreachable" in message and "4 attempts" in message
    assert "s3cret" not in message

    # A caller-provided client keeps its own retries; this one has none, so the policy rules.
    client = aioredis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    store = PartitionStore(
        client, "t", retry=RetryPolicy(attempts=20, deadline_s=0.5, initial_backoff_s=0.05)
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="apply on partition 1"):
        await store.apply(1, 1, 0, [])
    assert time.monotonic() - started < 3.0
    with pytest.raises(StoreUnavailableError, match="get"):
        await store.get("t:{p1}:inv:x")
    await client.aclose()


async def test_rejected_credentials_fail_at_once(infra: Infra) -> None:
    """Not retried: waiting cannot fix a wrong password."""
    host_port = infra.redis_url.split("//", 1)[1]
    started = time.monotonic()
    with pytest.raises(StoreError, match="refused access") as caught:
        await PartitionStore.connect(f"redis://nobody:s3cret@{host_port}", prefix="t")
    assert time.monotonic() - started < 2.0
    assert not isinstance(caught.value, StoreUnavailableError)
    assert "s3cret" not in str(caught.value)


# ----------------------------------------------------------------------------- construction


async def test_from_settings(infra: Infra, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RT_REDIS_URL", raising=False)  # the session may point at shared infra
    settings = Settings(redis_url=infra.redis_url, topic_prefix=prefix)
    async with await PartitionStore.from_settings(settings) as store:
        assert store.prefix == prefix
        assert store.keys(2).meta == f"{prefix}:{{p2}}:meta"
        epoch = await store.claim(2)
        assert await store.apply(2, epoch, 0, []) is ApplyResult.APPLIED
    with pytest.raises(ValueError, match="no Redis URL"):
        await PartitionStore.from_settings(Settings(topic_prefix=prefix))
    with pytest.raises(ValueError, match="rediss://"):
        await PartitionStore.from_settings(
            Settings(
                redis_url=infra.redis_url, redis_ssl_ca_certs="/etc/ssl/certs/ca-certificates.crt"
            )
        )


async def test_shared_client_is_not_closed(infra: Infra, prefix: str) -> None:
    client = aioredis.Redis.from_url(infra.redis_url)
    store = PartitionStore(client, prefix)
    assert store.redis is client
    await store.aclose()
    assert await client.ping()
    await client.aclose()
    decoding = aioredis.Redis.from_url(infra.redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        PartitionStore(decoding, prefix)
    await decoding.aclose()
    with pytest.raises(ValueError, match="prefix"):
        PartitionStore(client, "bad{prefix}")
