"""The partition's Redis writes outside the fenced apply, and why each is safe without it.

Every change of a partition's state is a record on ``rt.log`` applied by
``PartitionStore.apply``, which refuses an owner whose epoch is stale
(invariant 2). The writes here are not state changes: they are bookkeeping of
effects that are already durable, done after the apply, and they do not check
the epoch. A stale owner — one a new owner has fenced in the apply but that has
not noticed yet — may still run them. Each is safe then:

1. :func:`forget_sent` deletes an item of the cross-partition outbox (or of the
   dead-letter hash) once the broker has acknowledged its record. Only an item
   whose record is in Kafka is deleted, so nothing is lost. An item's field is
   the digest of the item, written by the one apply of the entry that caused
   it; should a new owner ever store the very same item again, its record is
   byte for byte the one already delivered. A new owner that read the item
   before the delete sends it again, as a new owner re-sends whatever is left
   after any take-over (ADR 0002): the target deduplicates it (an ``Invoke`` by
   its id, a ``Complete`` by "first completion wins", a ``Kill`` or ``Cancel``
   of an invocation that already ended does nothing); a dead letter is produced
   at least once (readers deduplicate on ``rt.dlq.invocation.id``).
2. :func:`mark_egress_used` adds the meta hash's ``egress`` field: "this
   partition has had an egress producer; fence it at take-over" (a dead
   owner's open transaction would otherwise hold back ``read_committed``
   readers of the partition). The field is only ever added, never removed,
   and the apply neither reads nor writes it; a stale owner adding it at worst
   makes a later owner start its egress producer at take-over with nothing to
   fence (one ``init_transactions``).

``tests/integration/test_housekeeping_writes.py`` shows each against real Redis
and Kafka. Owns these writes and the meta field's name; may not write anything
a transition depends on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from runtime.state.keys import PartitionKeys

if TYPE_CHECKING:  # the DLQ imports this module; redis stays out of the intake child's imports
    import redis.asyncio as aioredis

EGRESS_USED = "egress"
"""Meta hash field: present once any owner of the partition created an egress producer.
NEVER CHANGE (a new owner reads it at take-over)."""


async def forget_sent(redis: aioredis.Redis, hash_key: str, field_: str) -> None:
    """Delete a sent item (its record was acknowledged by the broker).

    Args:
        redis: The partitions' Redis.
        hash_key: The partition's ``outbox`` or ``dlq`` hash.
        field_: The item's field.
    """
    await redis.hdel(hash_key, field_)


async def mark_egress_used(redis: aioredis.Redis, keys: PartitionKeys) -> None:
    """Record, before the partition's first egress transaction, that it has an egress
    producer a future owner must fence at take-over."""
    await redis.hset(keys.meta, EGRESS_USED, "1")


def egress_used(meta: Mapping[bytes, bytes]) -> bool:
    """Whether the partition's meta hash (as read at take-over) carries the mark."""
    return EGRESS_USED.encode() in meta
