"""Concurrent state reads coalesce into one batched call (no connection-pool stampede)."""

from __future__ import annotations

import asyncio

import pytest

from runtime.state.batchload import MAX_BATCH, BatchLoader


async def test_reads_of_one_turn_share_one_call_and_dedupe_keys() -> None:
    calls: list[list[str]] = []

    async def load_many(keys: list[str]) -> list[str]:
        calls.append(keys)
        await asyncio.sleep(0)
        return [k.upper() for k in keys]

    loader: BatchLoader[str, str] = BatchLoader(load_many)
    got = await asyncio.gather(*(loader.get(k) for k in ["a", "b", "a", "c"]))
    assert got == ["A", "B", "A", "C"]
    assert calls == [["a", "b", "c"]]
    assert await loader.get("d") == "D"  # a later turn: a new call
    assert calls[-1] == ["d"]


async def test_large_turns_split_into_bounded_calls() -> None:
    sizes: list[int] = []

    async def load_many(keys: list[int]) -> list[int]:
        sizes.append(len(keys))
        return keys

    loader: BatchLoader[int, int] = BatchLoader(load_many)
    n = MAX_BATCH * 2 + 7
    assert await asyncio.gather(*(loader.get(i) for i in range(n))) == list(range(n))
    assert sorted(sizes) == [7, MAX_BATCH, MAX_BATCH]


async def test_a_failed_call_fails_every_reader_and_the_next_turn_retries() -> None:
    fail = True

    async def load_many(keys: list[str]) -> list[str]:
        if fail:
            raise ConnectionError("down")
        return keys

    loader: BatchLoader[str, str] = BatchLoader(load_many)
    results = await asyncio.gather(loader.get("a"), loader.get("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    fail = False
    assert await loader.get("a") == "a"


async def test_a_cancelled_reader_does_not_cancel_the_others() -> None:
    release = asyncio.Event()

    async def load_many(keys: list[str]) -> list[str]:
        await release.wait()
        return keys

    loader: BatchLoader[str, str] = BatchLoader(load_many)
    first = asyncio.ensure_future(loader.get("k"))
    second = asyncio.ensure_future(loader.get("k"))
    await asyncio.sleep(0.01)
    first.cancel()
    release.set()
    assert await second == "k"
    with pytest.raises(asyncio.CancelledError):
        await first
