"""Durable promises of workflow instances: the partition's view of their Redis hashes.

A workflow instance's promises live in one hash (``PartitionKeys.promise``):
field ``name`` holds the completed promise's outcome; field ``WAITERS + name``
the handlers waiting for it (``ctx.promise(name).value()`` before it is
completed). The machine loads a hash before the first batch that needs it
(the processor's prefetch) and writes it through. Owns that view and the
ops on those hashes; may not touch journals or invocations (the machine
completes the waiters it is given back).
"""

from __future__ import annotations

import msgspec

from runtime.log import records
from runtime.partition.status import Outcome
from runtime.state.keys import PartitionKeys
from runtime.state.store import HDel, HSet, Op

WAITERS = "\x00waiters\x00"
"""Prefix of the field listing a promise's waiters. NEVER CHANGE (stored in Redis)."""
ALREADY_COMPLETED = records.Failure(409, "promise was already completed")

ObjectKey = tuple[str, str]
Waiter = tuple[str, int]
"""(invocation id, command index) of a handler waiting for a promise."""

_outcome_enc = msgspec.msgpack.Encoder()
_outcome_dec = msgspec.msgpack.Decoder(Outcome)
_waiters_enc = msgspec.msgpack.Encoder()
_waiters_dec = msgspec.msgpack.Decoder(list[tuple[str, int]])


class Promises:
    """The promise hashes of the partition's workflow instances that batches used."""

    def __init__(self, keys: PartitionKeys) -> None:
        self._keys = keys
        self.cache: dict[ObjectKey, dict[str, bytes]] = {}

    def known(self, ok: ObjectKey) -> bool:
        """Whether the hash of ``ok`` is in memory (else it must be loaded first)."""
        return ok in self.cache

    def load(self, ok: ObjectKey, raw: dict[bytes, bytes]) -> None:
        """What Redis holds for ``ok`` (prefetched before the batch that needs it)."""
        self.cache[ok] = {k.decode(): v for k, v in raw.items()}

    def read(
        self, ok: ObjectKey, name: str, peek: bool, waiter: Waiter, ops: list[Op]
    ) -> Outcome | None:
        """``ctx.promise(name).value()`` (or ``peek``) of the handler ``waiter``.

        Returns:
            The outcome to complete the read with now (``Outcome()`` when a peeked
            promise is not completed), or None when the handler now waits for it.
        """
        promises = self.cache[ok]
        value = promises.get(name)
        if value is not None:
            return _outcome_dec.decode(value)
        if peek:
            return Outcome(value=b"")
        wkey = WAITERS + name
        waiters = _waiters_dec.decode(promises[wkey]) if wkey in promises else []
        waiters.append(waiter)
        promises[wkey] = _waiters_enc.encode(waiters)
        ops.append(HSet(self._keys.promise(*ok), wkey, promises[wkey]))
        return None

    def complete(self, ok: ObjectKey, name: str, outcome: Outcome, ops: list[Op]) -> bool:
        """Complete promise ``name`` with ``outcome``; False if it was already completed."""
        promises = self.cache[ok]
        if name in promises:
            return False
        blob = _outcome_enc.encode(outcome)
        promises[name] = blob
        ops.append(HSet(self._keys.promise(*ok), name, blob))
        return True

    def take_waiters(self, ok: ObjectKey, name: str, ops: list[Op]) -> list[Waiter]:
        """The handlers waiting for promise ``name`` (just completed), forgotten."""
        promises = self.cache[ok]
        wkey = WAITERS + name
        if wkey not in promises:
            return []
        waiters = _waiters_dec.decode(promises.pop(wkey))
        ops.append(HDel(self._keys.promise(*ok), wkey))
        return waiters

    def purge(self, ok: ObjectKey, ops: list[Op]) -> None:
        """The workflow instance is purged: values go, waiters stay registered.

        A handler still waiting on a promise then gets the value if the promise is
        completed later (by a new run or a shared handler). The caller deletes the hash
        first; this writes the waiters back.
        """
        waiting = {k: v for k, v in self.cache.pop(ok, {}).items() if k.startswith(WAITERS)}
        for wkey, blob in waiting.items():
            ops.append(HSet(self._keys.promise(*ok), wkey, blob))
        self.cache[ok] = waiting
