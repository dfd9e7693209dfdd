"""Before a batch is computed: read from Redis what its transitions need and memory lacks.

The machine is pure, so whatever a batch's transitions need that is not in its
in-memory view is read first and handed in: the statuses of completed
invocations the records name (duplicates, attaches, purges, retention timers),
the promise hashes of the workflow instances they touch, the journal tail an
attempt may not have seen when a previous owner journaled it, and the state of
objects whose handlers read it lazily. (Timers not in memory are the wheel's
own prefetch.) Owns these reads; may not write Redis or compute a transition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from runtime.log import records
from runtime.log.records import TargetKind
from runtime.partition.machine import Completed, PartitionMachine, retention_target
from runtime.partition.status import decode_status


class PrefetchReader(Protocol):
    """The Redis reads of a prefetch (``runtime.state.store.PartitionStore``)."""

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def hgetall(self, key: str) -> dict[bytes, bytes]: ...

    async def lrange(self, key: str, start: int, stop: int) -> list[bytes]: ...


_NAMES_INVOCATION = (
    records.Invoke,
    records.Attach,
    records.Purge,
    records.AttachInvocation,
    records.TimerFired,
)


async def prefetch(
    machine: PartitionMachine, recs: Iterable[records.Record], reader: PrefetchReader
) -> Completed:
    """Load what the transitions of ``recs`` need into ``machine``.

    Returns:
        The statuses of the invocations the records name that are not active
        (None when Redis has none): the ``completed`` argument of
        :meth:`PartitionMachine.apply`.
    """
    keys = machine.keys
    active = machine.active
    wanted: list[str] = []
    promise_keys: set[tuple[str, str]] = set()
    purging: set[str] = set()
    for rec in recs:
        inv_id = getattr(rec, "invocation_id", None)
        if isinstance(rec, records.TimerFired):
            inv_id = retention_target(rec.timer_id)
        if isinstance(rec, (records.Purge, records.TimerFired)) and inv_id:
            purging.add(inv_id)
        if isinstance(rec, _NAMES_INVOCATION) and inv_id:
            fresh = isinstance(rec, records.Invoke) and rec.fresh_id
            if inv_id not in active and not fresh:
                wanted.append(inv_id)
        elif isinstance(rec, records.AppendJournal | records.PinDeployment):
            await _journal_needs(machine, rec, reader, promise_keys)
        elif isinstance(rec, records.BatchCommit):
            for item in rec.items:  # each is applied as its AppendJournal
                await _journal_needs(machine, item, reader, promise_keys)
    out: Completed = {}
    if wanted:
        blobs = await reader.mget([keys.inv(i) for i in wanted])
        for inv_id, blob in zip(wanted, blobs, strict=True):
            out[inv_id] = decode_status(blob) if blob is not None else None
    # A workflow purge keeps the promises' waiters, so it needs to know them.
    for inv_id in purging:
        st = out.get(inv_id)
        ok = st.object_key if st is not None and st.target.kind == TargetKind.WORKFLOW else None
        if ok is not None and not machine.promises.known(ok):
            promise_keys.add(ok)
    for ok in promise_keys:
        machine.promises.load(ok, await reader.hgetall(keys.promise(*ok)))
    return out


async def _journal_needs(
    machine: PartitionMachine,
    rec: records.AppendJournal | records.BatchItem | records.PinDeployment,
    reader: PrefetchReader,
    promise_keys: set[tuple[str, str]],
) -> None:
    """What applying an attempt's entries needs: a journal tail, promises, lazy state."""
    st = machine.active.get(rec.invocation_id)
    if st is not None and st.attempt == rec.attempt and 0 <= rec.start < st.journal_len:
        # Whether the attempt's entries are reordered is decided by the log,
        # not by which owner applies it: learn what a previous owner journaled.
        unseen, start, end = machine.unseen, rec.start, st.journal_len
        if unseen.missing(st.invocation_id, start, end):
            tail = await reader.lrange(machine.keys.journal(st.invocation_id), start, end - 1)
            unseen.learn(st.invocation_id, start, end, tail)
    ok = st.object_key if st is not None else None
    if ok is not None and not machine.promises.known(ok) and machine.services.is_workflow(st):
        promise_keys.add(ok)
    if st is not None and ok is not None and machine.services.lazy_state(st):
        await machine.states.read(ok)  # lazy reads are answered from the cache
