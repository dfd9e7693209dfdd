"""The object-state cache of one partition: the applied K/V state of recently used objects.

The partition's owner is the only writer of its objects' state, so it keeps
recent states in memory (written through by the machine as it computes each
batch) and reads the rest from Redis on demand. Owns the cache and the
bookkeeping that keeps a read racing a write out of it; may not write Redis.

Reads go to Redis on another connection than the applies, so Redis may serve a
read sent before an apply's script runs: such a read is committed state, fine
for a shared handler, but never cached for the next exclusive handler.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from runtime.state.batchload import BatchLoader

STATE_CACHE_KEYS = 10_000
"""Objects whose state is kept in memory per partition, at most (least recently used go)."""

ObjectKey = tuple[str, str]
"""(service, key) of a virtual object or workflow instance."""


class ObjectStates:
    """The applied state of objects, cached; read from Redis when not cached.

    Args:
        load_many: Reads the state hashes of several objects at once (one round trip).
        cap: Most objects kept in memory.
    """

    def __init__(
        self,
        load_many: Callable[[list[ObjectKey]], Awaitable[list[dict[bytes, bytes]]]],
        cap: int = STATE_CACHE_KEYS,
    ) -> None:
        self.cache: OrderedDict[ObjectKey, dict[str, bytes]] = OrderedDict()
        self._cap = cap
        self._loads: BatchLoader[ObjectKey, dict[bytes, bytes]] = BatchLoader(load_many)
        self._gen = 0
        self._loading = 0
        self._unapplied: Counter[ObjectKey] = Counter()
        """Objects with state writes computed whose apply has not returned yet."""
        self.written_while_loading: dict[ObjectKey, int] = {}
        """Keys written while not cached, with the generation of the write, kept while
        state reads are in flight (see :meth:`read`)."""

    # ------------------------------------------------------------------ the machine's side

    def get(self, ok: ObjectKey) -> dict[str, bytes] | None:
        """The cached state of ``ok`` (the machine's view), or None when not cached."""
        return self.cache.get(ok)

    def set_key(self, ok: ObjectKey, key: str, value: bytes) -> None:
        cached = self.cache.get(ok)
        if cached is not None:
            cached[key] = value
        self._written(ok)

    def clear_key(self, ok: ObjectKey, key: str) -> None:
        cached = self.cache.get(ok)
        if cached is not None:
            cached.pop(key, None)
        self._written(ok)

    def replace(self, ok: ObjectKey, state: dict[str, bytes]) -> None:
        """The whole state of ``ok`` is now ``state`` (clear all, admin replacement)."""
        self.cache[ok] = state
        self._written(ok)

    def drop(self, ok: ObjectKey) -> None:
        """The state of ``ok`` is gone (purge)."""
        self.cache.pop(ok, None)
        self._written(ok)

    def _written(self, ok: ObjectKey) -> None:
        """A batch writes ``ok``'s state: a read of it in flight, or started before the
        apply, must not be cached (it may have read the state before the write)."""
        if self._loading:
            self._gen += 1
            self.written_while_loading[ok] = self._gen

    # ------------------------------------------------------------------ the shell's side

    def applying(self, written: Iterable[ObjectKey]) -> None:
        """A batch writing these objects is being applied (until :meth:`applied`)."""
        self._unapplied.update(written)

    def applied(self, written: Iterable[ObjectKey]) -> None:
        unapplied = self._unapplied
        for ok in written:
            unapplied[ok] -= 1
            if unapplied[ok] <= 0:
                del unapplied[ok]

    async def read(self, ok: ObjectKey) -> dict[str, bytes]:
        """The applied state of an object (cached; only this partition's owner writes it).

        The returned mapping may be the cached one: callers must not modify it.
        """
        cached = self.cache.get(ok)
        if cached is not None:
            self.cache.move_to_end(ok)
            return cached
        gen = self._gen
        unapplied = ok in self._unapplied
        self._loading += 1
        try:
            raw = await self._loads.get(ok)
        finally:
            self._loading -= 1
        state = {k.decode(): v for k, v in raw.items()}
        if ok in self.cache:  # applied meanwhile: the cache is newer
            return self.cache[ok]
        written = self.written_while_loading.get(ok, 0) > gen
        if not self._loading:
            self.written_while_loading.clear()
        if unapplied or written:
            # A write was computed before its apply ran or while this read was in flight
            # (reads use another connection, so Redis may have served the read first): a
            # committed state for a shared reader, but maybe older than the write, so it
            # is never cached for the next exclusive handler.
            return state
        self.cache[ok] = state
        while len(self.cache) > self._cap:
            self.cache.popitem(last=False)
        return state
