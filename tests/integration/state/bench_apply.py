"""Benchmark of ``PartitionStore.apply`` against a real Redis (not a test; not collected).

Run: ``.venv/bin/python -m tests.integration.state.bench_apply [--url redis://...]``.
Without ``--url`` it starts a local redis-server the way ``rt dev`` does (AOF on,
``appendfsync everysec``). The op mix imitates the partition processor: per record a
status ``Set`` (~200 B), a journal ``RPush`` (~100 B), an ``active`` ``HSet``, an
object-state ``HSet`` and, for every fifth record, a timer ``ZAdd``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
import uvloop

from runtime.devstack.redis import LocalRedis
from runtime.state.store import ApplyResult, HSet, Op, PartitionStore, RPush, Set, ZAdd


def make_ops(store: PartitionStore, partition: int, n: int) -> list[Op]:
    k = store.keys(partition)
    ops: list[Op] = []
    i = 0
    while len(ops) < n:
        inv = f"inv_{i % 100:027d}"
        ops.append(Set(k.inv(inv), os.urandom(200)))
        ops.append(RPush(k.journal(inv), [os.urandom(100)]))
        ops.append(HSet(k.active, inv, b"1"))
        ops.append(HSet(k.state("Counter", f"user-{i % 50}"), "count", str(i).encode()))
        if i % 5 == 0:
            ops.append(ZAdd(k.timers, 1_763_456_789_123.0 + i, os.urandom(40)))
        i += 1
    return ops[:n]


async def one_partition(
    store: PartitionStore, partition: int, size: int, rounds: int
) -> list[float]:
    epoch = await store.claim(partition)
    ops = make_ops(store, partition, size)
    _, applied = await store.position(partition)
    latencies = []
    for offset in range(applied + 1, applied + 1 + rounds):
        started = time.perf_counter()
        result = await store.apply(partition, epoch, offset, ops)
        latencies.append(time.perf_counter() - started)
        assert result is ApplyResult.APPLIED, result
    return latencies[max(1, rounds // 10) :]  # drop warm-up


async def main(url: str, sizes: list[int], rounds: int, partitions: int) -> None:
    async with await PartitionStore.connect(url, prefix=f"bench{uuid.uuid4().hex[:6]}") as store:
        encoder = msgspec.msgpack.Encoder()
        print(f"Redis at {url}; {partitions} partition(s) applying concurrently; {rounds} rounds")
        print(
            "  ops/batch   p50 ms   p99 ms   ops/s (all partitions)   encode µs   Redis µs/call"
            "   client CPU µs/apply"
        )
        for size in sizes:
            ops = make_ops(store, 0, size)
            started = time.perf_counter()
            for _ in range(50):
                encoder.encode(ops)
            encode_us = (time.perf_counter() - started) / 50 * 1e6
            await store.redis.config_resetstat()
            started = time.perf_counter()
            cpu = time.process_time()
            runs = await asyncio.gather(
                *(one_partition(store, p, size, rounds) for p in range(partitions))
            )
            wall = time.perf_counter() - started
            cpu_us = (time.process_time() - cpu) / (rounds * partitions) * 1e6
            stats = await store.redis.info("commandstats")
            per_call = stats.get("cmdstat_evalsha", {}).get("usec_per_call", float("nan"))
            lat = sorted(x for run in runs for x in run)
            p50 = statistics.median(lat) * 1e3
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
            ops_s = size * rounds * partitions / wall
            print(
                f"  {size:9d} {p50:8.2f} {p99:8.2f}   {ops_s:22,.0f}   {encode_us:9.0f}"
                f"   {per_call:13.0f}   {cpu_us:19.0f}"
            )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="Redis URL; default: start a local redis-server")
    parser.add_argument("--sizes", default="1,10,100,1000,5000")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument(
        "--loop", choices=["uvloop", "asyncio"], default="uvloop", help="rt runs on uvloop"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    factory = uvloop.new_event_loop if args.loop == "uvloop" else asyncio.new_event_loop

    def run(url: str) -> None:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main(url, sizes, args.rounds, args.partitions))

    if args.url:
        run(args.url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalRedis(Path(tmp))
        local.start()
        try:
            run(local.url)
        finally:
            local.stop()


if __name__ == "__main__":
    cli()
