"""The read model builds its keys from the one layout (no I/O: the client is never used)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from runtime.state.keys import PartitionKeys
from runtime.state.reads import StateReads


def test_keys_per_partition_are_the_layouts() -> None:
    reads = StateReads(aioredis.Redis(), "rt", 3)
    assert reads.partitions == 3
    assert [reads.keys(p) for p in range(3)] == [PartitionKeys("rt", p) for p in range(3)]
    assert reads.keys(2).dlq == "rt:{p2}:dlq"


def test_a_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="key prefix"):
        StateReads(aioredis.Redis(), "rt:{x}", 1)
