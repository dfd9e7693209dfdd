"""The durable side of the admin API (object state, partitions), on Kafka + Redis.

State reads come from the applied view (``runtime.state.reads``); a state replacement
is a ``SetObjectState`` record on the object's partition, so it queues behind
the key's running exclusive handler like any invocation (Restate's semantics).
``GET /cluster`` reads the partitions' applied state through it too.
"""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_key
from runtime.registry import Registry
from runtime.settings import Settings
from runtime.state.reads import PartitionInfo, StateReads
from sdk.ids import keyed_routing_key


class AdminBackend(Protocol):
    async def get_state(self, service: str, key: str) -> dict[str, bytes]:
        """The object's applied state (empty if none)."""
        ...

    async def set_state(self, service: str, key: str, new_state: dict[str, bytes]) -> None:
        """Replace the whole state map once the key's lock is free (durable on return)."""
        ...

    async def partition_infos(self) -> list[PartitionInfo]:
        """Every partition's epochs, applied offset and sizes, in partition order."""
        ...


class LogAdminBackend:
    def __init__(
        self, registry: Registry, producer: LogProducer, redis: aioredis.Redis, settings: Settings
    ) -> None:
        self._registry = registry
        self._producer = producer
        self._reads = StateReads(redis, settings.topic_prefix, settings.partitions)
        self._partitions = settings.partitions

    async def get_state(self, service: str, key: str) -> dict[str, bytes]:
        return await self._reads.object_state(service, key)

    async def set_state(self, service: str, key: str, new_state: dict[str, bytes]) -> None:
        rk = keyed_routing_key(service, key)
        part = partition_of_key(rk, self._partitions)
        await self._producer.append(part, rk, records.SetObjectState(service, key, new_state))

    async def partition_infos(self) -> list[PartitionInfo]:
        return await self._reads.partition_infos()
