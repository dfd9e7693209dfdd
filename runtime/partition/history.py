"""The invocation history: the index of a partition's completed invocations, as Redis ops.

A completed invocation keeps its status (and, for its journal retention, its
journal) in Redis until its retention is over: Redis expires the keys of a plain
invocation, a retention timer purges a workflow run (``runtime.partition.lifecycle``).
To list them without scanning keys, the partition machine also writes two sorted
sets of invocation ids (``runtime.state.keys``), in the same fenced apply as the
completed status:

- ``history``: score = completion time (ms): what ``GET /invocations?status=completed``
  reads, newest first, bounded by completion time;
- ``history_expiry``: score = when the status expires: what trims both sets.

Every batch that completes an invocation also trims, in the same apply, up to
:data:`TRIM_PER_BATCH` ids whose status has expired by the batch's clock, so the
sets hold about the invocations still retained (each batch adds at most as many
ids as it completes, and removes up to this many expired ones). A purge removes
the id at once. A reader still skips ids whose status is gone: an index entry may
outlive its status by the time until the next completion on the partition.

Owns the index's ops; may not decide when an invocation completes or how long it
is retained. Pure: no I/O.
"""

from __future__ import annotations

from runtime.partition.status import InvocationStatus
from runtime.state.keys import PartitionKeys
from runtime.state.store import Op, ZAdd, ZRem, ZTrim

TRIM_PER_BATCH = 256
"""Most expired ids one apply removes from the history."""


def indexed(keys: PartitionKeys, st: InvocationStatus, expires_at_ms: int) -> list[Op]:
    """The ops that add a just-completed invocation to the history.

    Args:
        keys: The partition's keys.
        st: The completed status (``completed_ms`` set).
        expires_at_ms: When its status expires (or its retention timer purges it).

    Returns:
        Two ``ZAdd`` ops (the order is part of the golden expectations).
    """
    member = st.invocation_id.encode()
    done_ms = st.completed_ms if st.completed_ms is not None else st.modified_ms
    return [
        ZAdd(keys.history, float(done_ms), member),
        ZAdd(keys.history_expiry, float(expires_at_ms), member),
    ]


def forgotten(keys: PartitionKeys, invocation_id: str) -> list[Op]:
    """The ops that remove a purged invocation from the history."""
    member = invocation_id.encode()
    return [ZRem(keys.history, member), ZRem(keys.history_expiry, member)]


def trim(keys: PartitionKeys, now_ms: int) -> Op:
    """The op that drops from the history what expired by ``now_ms``."""
    return ZTrim(keys.history_expiry, keys.history, float(now_ms), TRIM_PER_BATCH)
