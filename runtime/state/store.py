"""The Redis store of the partitions' materialized state: fenced, idempotent batch applies.

The partition processor is the single writer of its partition's keys
(ARCHITECTURE.md, invariant 2). It computes transitions in Python and hands
this store one batch of :data:`Op` per consumed batch of rt.log records;
:meth:`PartitionStore.apply` writes the batch with one Lua script call that

1. checks the caller's epoch against the partition's (a stale owner is fenced),
2. does nothing if the batch's offset is already applied (invariant 1),
3. validates every op, then runs them all, and
4. records the new applied offset,

atomically: Redis runs a script alone, and every key of the partition shares
one Cluster slot (``runtime.state.keys``).

Why the ops travel as one msgpack blob: msgspec encodes the whole list in C
(30-60 µs for 1000 ops), and the Python process - which also runs the
processor and in-process handlers - spends 0.6 ms of CPU per 1000-op batch,
against 3.0 ms for a flat ARGV layout packed by redis-py's asyncio client
(1.3 ms even with hiredis' C packer), at similar latency (~3-4 ms p50 each;
measured 2026-11-22 on the 2-core dev machine, Redis 7.0; the current figures
come from ``tests/integration/state/bench_apply.py``). Redis' bundled
``cmsgpack`` cannot read the msgpack ``bin`` type msgspec uses for bytes, so
``lua/apply.lua`` carries a small reader for exactly the subset msgspec emits.

Longer than our usual ~600 lines on purpose: the op types are the wire format of
``lua/apply.lua`` and this store is the only code that sends them, and every call
(apply, claim, the take-over and timer reads) shares the retry policy and error
mapping; its sections (ops, results and errors, retries, the store) are marked.

Example:
    >>> store = await PartitionStore.connect("redis://localhost:6379/0", prefix="rt")
    >>> keys = store.keys(7)
    >>> epoch = await store.claim(7)
    >>> await store.apply(7, epoch, 41, [Set(keys.inv("inv_1"), b"...")])
    <ApplyResult.APPLIED: 'applied'>
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from runtime.state.keys import META_APPLIED, META_EPOCH, KeyKind, PartitionKeys
from runtime.state.pipelined import PipelinedConnection

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = [
    "ApplyResult",
    "Delete",
    "FencedError",
    "HDel",
    "HSet",
    "InvalidOpsError",
    "LPop",
    "LRem",
    "LTrim",
    "Op",
    "PExpire",
    "PartitionStore",
    "RPush",
    "RetryPolicy",
    "Set",
    "StoreError",
    "StoreUnavailableError",
    "ZAdd",
    "ZRem",
    "ZTrim",
]

log = logging.getLogger("rt.state")

T = TypeVar("T")

# --------------------------------------------------------------------------- ops
#
# The tags are the wire format between this module and lua/apply.lua: NEVER
# reuse a number for a different op. Fields are encoded in declaration order.


class Set(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """``SET key value``: replaces the value and drops any TTL."""

    key: str
    value: bytes


class Delete(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """``DEL key``: removes a key of any type."""

    key: str


class HSet(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """``HSET key field value`` on a hash (or a missing key)."""

    key: str
    field: str | bytes
    value: bytes


class HDel(msgspec.Struct, frozen=True, array_like=True, tag=4):
    """``HDEL key field`` on a hash (or a missing key)."""

    key: str
    field: str | bytes


class RPush(msgspec.Struct, frozen=True, array_like=True, tag=5):
    """``RPUSH key values...`` on a list (or a missing key); an empty list is a no-op."""

    key: str
    values: list[bytes]


class LPop(msgspec.Struct, frozen=True, array_like=True, tag=6):
    """``LPOP key``: drops the head of a list (or nothing)."""

    key: str


class LRem(msgspec.Struct, frozen=True, array_like=True, tag=7):
    """``LREM key count value``: removes ``count`` occurrences (0: all; < 0: from the tail)."""

    key: str
    value: bytes
    count: int = 0


class ZAdd(msgspec.Struct, frozen=True, array_like=True, tag=8):
    """``ZADD key score member`` on a sorted set (or a missing key)."""

    key: str
    score: float
    member: bytes


class ZRem(msgspec.Struct, frozen=True, array_like=True, tag=9):
    """``ZREM key member`` on a sorted set (or a missing key)."""

    key: str
    member: bytes


class PExpire(msgspec.Struct, frozen=True, array_like=True, tag=10):
    """``PEXPIRE key ms``: the key disappears after ``ms`` (``<= 0``: at once)."""

    key: str
    ms: int


class LTrim(msgspec.Struct, frozen=True, array_like=True, tag=11):
    """``LTRIM key start stop``: keeps the list's elements ``start..stop`` (inclusive)."""

    key: str
    start: int
    stop: int


class ZTrim(msgspec.Struct, frozen=True, array_like=True, tag=12):
    """Remove the members of sorted set ``key`` scored ``<= max_score`` (at most ``limit``,
    lowest first) from ``key`` and from sorted set ``also``.

    Trims an index kept in two sets, one ordered by expiry (``key``) and one by another
    score (``also``), in one step of the apply: ``ZRANGEBYSCORE`` then ``ZREM`` on both.
    """

    key: str
    also: str
    max_score: float
    limit: int


Op: TypeAlias = (
    Set | Delete | HSet | HDel | RPush | LPop | LRem | ZAdd | ZRem | PExpire | LTrim | ZTrim
)
"""One state mutation of a batch. A closed set: ``lua/apply.lua`` knows each tag."""

_ENCODER = msgspec.msgpack.Encoder()

# --------------------------------------------------------------------------- results and errors


class ApplyResult(enum.Enum):
    """What :meth:`PartitionStore.apply` did."""

    APPLIED = "applied"
    """The ops ran and the applied offset moved to the batch's offset."""
    ALREADY_APPLIED = "already_applied"
    """The offset was already applied: nothing ran (a re-delivered batch)."""

    @property
    def already_applied(self) -> bool:
        """True when the batch was a no-op re-apply."""
        return self is ApplyResult.ALREADY_APPLIED


class StoreError(Exception):
    """Base of the store's errors."""


class FencedError(StoreError):
    """The caller's epoch is not the partition's: another owner took it over.

    The caller must stop driving the partition; nothing of the batch was written.

    Attributes:
        partition: The partition.
        epoch: The caller's (stale) epoch.
        current_epoch: The epoch Redis holds.
    """

    def __init__(self, partition: int, epoch: int, current_epoch: int) -> None:
        self.partition = partition
        self.epoch = epoch
        self.current_epoch = current_epoch
        if current_epoch > epoch:
            why = "another owner claimed the partition since"
        else:
            why = "Redis holds an older epoch than this owner claimed: its state was lost or reset"
        super().__init__(
            f"partition {partition}: fenced: this owner holds epoch {epoch} but Redis holds "
            f"epoch {current_epoch} ({why}); nothing was applied"
        )


class InvalidOpsError(StoreError, ValueError):
    """The script rejected the batch before writing anything (a bug in the caller)."""


class StoreUnavailableError(StoreError):
    """Redis stayed unreachable for the whole retry budget."""


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long store calls ride out transient Redis connection failures.

    Every call the store makes is safe to repeat: reads trivially, ``claim``
    because a skipped epoch is harmless, ``apply`` because it is idempotent by
    offset. Retries stop at whichever bound comes first.
    """

    attempts: int = 12
    """Total tries per call, the first included."""
    deadline_s: float = 30.0
    """Give up once this much time has passed since the first try."""
    initial_backoff_s: float = 0.05
    """Sleep before the second try; doubles each try, plus up to as much jitter."""
    max_backoff_s: float = 2.0
    """Cap of a single sleep."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, AuthenticationError | AuthorizationError):
        return False  # subclasses of ConnectionError, but retrying cannot fix credentials
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


# --------------------------------------------------------------------------- the store

_SCRIPT = files("runtime.state").joinpath("lua/apply.lua").read_text(encoding="utf-8")
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class PartitionStore:
    """Fenced, idempotent access to the partitions' state in one Redis.

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=False``. It is
            not closed by :meth:`aclose` unless the store created it.
        prefix: The cluster's key prefix (``Settings.topic_prefix``).
        retry: The policy for transient connection failures.

    Raises:
        ValueError: If the client decodes responses or the prefix is invalid.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses", False):
            raise ValueError("PartitionStore needs a Redis client with decode_responses=False")
        PartitionKeys(prefix, 0)  # validates the prefix
        self._redis = client
        self._prefix = prefix
        self._retry = retry or RetryPolicy()
        self._owns_client = False
        self._keys: dict[int, PartitionKeys] = {}
        # Applies are the hot path's round trips: they share one connection on which the
        # applies of a loop turn (all partitions) go out in one write (pipelined.py).
        self._applies = PipelinedConnection(
            client, timeout_s=client.connection_pool.connection_kwargs.get("socket_timeout")
        )
        kw = client.connection_pool.connection_kwargs
        self._where = str(kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}")

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        prefix: str,
        password: str | None = None,
        ssl_ca_certs: str | None = None,
        retry: RetryPolicy | None = None,
        socket_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        client_name: str = "rt-state",
    ) -> PartitionStore:
        """Connect to Redis and load the apply script, riding out a Redis still starting.

        Args:
            url: ``redis://[user:password@]host:port/db``, ``rediss://`` for TLS,
                or ``unix://path``. A password in the URL wins over ``password``.
            prefix: The cluster's key prefix.
            password: AUTH password when not given in the URL.
            ssl_ca_certs: CA bundle to verify a ``rediss://`` server with.
            retry: Policy for transient connection failures.
            socket_timeout: Seconds to wait for a reply before treating the
                connection as broken (and retrying).
            connect_timeout: Seconds to wait for a TCP/TLS connection.
            client_name: ``CLIENT SETNAME`` of the connections, to find them in
                ``CLIENT LIST``.

        Returns:
            A store owning its client (closed by :meth:`aclose`).

        Raises:
            ValueError: On CA certificates with a non-TLS URL.
            StoreUnavailableError: If Redis stays unreachable.
        """
        options: dict[str, Any] = {}
        if password is not None:
            options["password"] = password
        if ssl_ca_certs is not None:
            if urlsplit(url).scheme != "rediss":
                raise ValueError(
                    "redis_ssl_ca_certs is set but the Redis URL is not rediss://; "
                    "use rediss:// for TLS or unset the CA bundle"
                )
            options["ssl_ca_certs"] = ssl_ca_certs
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            client_name=client_name,
            # One retry policy (ours, below) rather than two multiplied together.
            retry=Retry(NoBackoff(), 0),
            **options,
        )
        store = cls(client, prefix, retry=retry)
        store._owns_client = True
        store._where = _redact(url)
        try:
            await store._retrying("connect", lambda: store._load_script())
        except BaseException:
            await client.aclose()
            raise
        return store

    @classmethod
    async def from_settings(
        cls,
        settings: Settings,
        *,
        url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> PartitionStore:
        """Connect as configured: ``redis_url``, ``redis_password``, ``redis_ssl_ca_certs``.

        The key prefix is ``settings.topic_prefix``.

        Args:
            settings: The process settings.
            url: Overrides ``settings.redis_url`` (e.g. the Redis ``rt dev`` started).
            retry: Policy for transient connection failures.

        Raises:
            ValueError: If no Redis URL is configured.
            StoreUnavailableError: If Redis stays unreachable.
        """
        target = url or settings.redis_url
        if not target:
            raise ValueError("no Redis URL configured (RT_REDIS_URL)")
        return await cls.connect(
            target,
            prefix=settings.topic_prefix,
            password=settings.redis_password,
            ssl_ca_certs=settings.redis_ssl_ca_certs,
            retry=retry,
        )

    async def aclose(self) -> None:
        """Close the apply connection, and the client if the store created it."""
        await self._applies.aclose()
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def redis(self) -> aioredis.Redis:
        """The underlying client, for reads the store does not wrap."""
        return self._redis

    @property
    def prefix(self) -> str:
        """The cluster's key prefix."""
        return self._prefix

    def keys(self, partition: int) -> PartitionKeys:
        """The key layout of ``partition`` (cached)."""
        keys = self._keys.get(partition)
        if keys is None:
            keys = self._keys[partition] = PartitionKeys(self._prefix, partition)
        return keys

    # ----------------------------------------------------------------------- ownership

    async def claim(self, partition: int) -> int:
        """Become the partition's owner: increment and return its epoch.

        Every ``apply`` with a lower epoch fails from now on. A retry after a
        lost reply may skip an epoch; that is harmless, the returned one is the
        newest.

        Args:
            partition: The partition taken over.

        Returns:
            The new epoch, the owner's fencing token (``>= 1``).
        """
        meta = self.keys(partition).meta
        return await self._retrying("claim", lambda: self._redis.hincrby(meta, META_EPOCH, 1))

    async def position(self, partition: int) -> tuple[int, int]:
        """The partition's current epoch and applied offset.

        Returns:
            ``(epoch, applied)``: epoch 0 if never claimed, applied -1 if
            nothing was applied. Consumption resumes at ``applied + 1``.
        """
        meta = self.keys(partition).meta

        async def read() -> tuple[int, int]:
            epoch, applied = await self._redis.hmget(meta, [META_EPOCH, META_APPLIED])
            return int(epoch or 0), int(applied) if applied is not None else -1

        return await self._retrying("position", read)

    # ----------------------------------------------------------------------- apply

    async def apply(
        self, partition: int, epoch: int, offset: int, ops: Sequence[Op]
    ) -> ApplyResult:
        """Apply a batch's mutations and its last offset, atomically, in one round trip.

        Step 1. Fencing (invariant 2): Redis' epoch must equal ``epoch``, else
                :class:`FencedError` and nothing is written.
        Step 2. Idempotence (invariant 1): ``offset <= applied`` writes nothing
                and returns :attr:`ApplyResult.ALREADY_APPLIED`.
        Step 3. Every op is validated (key inside the partition, argument types,
                Redis types of the keys, the fencing fields untouched), then all run.
        Step 4. ``applied = offset``.

        Transient connection failures are retried (safe: step 2). A retry whose
        first try did reach Redis finds its own token beside the offset and
        reports :attr:`ApplyResult.APPLIED`, so effects are not skipped for a
        batch that was in fact applied. This relies on one partition's applies
        being sequential, as the single writer's are.

        Args:
            partition: The partition.
            epoch: The caller's epoch, as returned by :meth:`claim`.
            offset: The rt.log offset of the batch's last record.
            ops: The mutations, in order; may be empty (only the offset moves).

        Returns:
            Whether the batch was applied or was already applied.

        Raises:
            FencedError: A newer owner claimed the partition.
            InvalidOpsError: The batch is malformed; nothing was written.
            StoreUnavailableError: Redis stayed unreachable.
            StoreError: Any other Redis error (e.g. OOM); nothing was written.
        """
        if epoch < 1:
            raise ValueError(f"epoch must be a claimed epoch (>= 1), got {epoch}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        keys = self.keys(partition)
        blob = _ENCODER.encode(ops if isinstance(ops, list | tuple) else list(ops))
        token = os.urandom(8)
        args = (keys.meta, epoch, offset, keys.base, blob, token)

        async def once() -> ApplyResult:
            reply = await self._evalsha(args)
            code, value = int(reply[0]), int(reply[1])
            if code == 1:
                return ApplyResult.APPLIED
            if code == 0:
                # Our own earlier try applied it and its reply was lost.
                return ApplyResult.APPLIED if reply[2] == token else ApplyResult.ALREADY_APPLIED
            raise FencedError(partition, epoch, value)

        try:
            return await self._retrying(f"apply on partition {partition}", once)
        except ResponseError as e:
            if "rt-invalid-ops" in str(e):
                raise InvalidOpsError(f"partition {partition}: batch rejected: {e}") from e
            raise StoreError(f"partition {partition}: apply failed: {e}") from e

    async def _evalsha(self, args: tuple[Any, ...]) -> list[Any]:
        try:
            reply = await self._applies.execute("EVALSHA", _SCRIPT_SHA, 1, *args)
        except NoScriptError:  # Redis restarted or SCRIPT FLUSH: scripts are not persisted
            await self._load_script()
            reply = await self._applies.execute("EVALSHA", _SCRIPT_SHA, 1, *args)
        assert isinstance(reply, list), reply
        return reply

    async def _load_script(self) -> None:
        sha = await self._redis.script_load(_SCRIPT)
        if sha != _SCRIPT_SHA:  # pragma: no cover - Redis hashes the bytes we hash
            raise StoreError(f"Redis returned script sha {sha!r}, expected {_SCRIPT_SHA}")

    # ----------------------------------------------------------------------- reads

    async def get(self, key: str) -> bytes | None:
        """``GET``: a string value, or None."""
        return _opt_bytes(await self._retrying("get", lambda: self._redis.get(key)))

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """``MGET``: string values in the order of ``keys`` (None where missing).

        All keys must belong to one partition on a Redis Cluster.
        """
        if not keys:
            return []
        values = await self._retrying("mget", lambda: self._redis.mget(list(keys)))
        return [_opt_bytes(v) for v in values]

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        """``HGETALL``: the whole hash (empty if missing)."""
        raw = await self._retrying("hgetall", lambda: self._redis.hgetall(key))
        return {_bytes(k): _bytes(v) for k, v in raw.items()}

    async def hgetall_many(self, keys: Sequence[str]) -> list[dict[bytes, bytes]]:
        """Several ``HGETALL`` in one pipelined round trip, in the order of ``keys``."""
        raws = await self._pipelined("hgetall_many", "HGETALL", keys)
        return [{_bytes(k): _bytes(v) for k, v in raw.items()} for raw in raws]

    async def lrange_all(self, key: str) -> list[bytes]:
        """``LRANGE key 0 -1``: the whole list (empty if missing)."""
        raw = await self._retrying("lrange_all", lambda: self._redis.lrange(key, 0, -1))
        return [_bytes(v) for v in raw]

    async def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        """``LRANGE key start stop`` (inclusive; empty if missing)."""
        raw = await self._retrying("lrange", lambda: self._redis.lrange(key, start, stop))
        return [_bytes(v) for v in raw]

    async def lrange_many(self, keys: Sequence[str]) -> list[list[bytes]]:
        """Several whole lists in one pipelined round trip, in the order of ``keys``."""
        raws = await self._pipelined("lrange_many", "LRANGE", keys, 0, -1)
        return [[_bytes(v) for v in raw] for raw in raws]

    async def due_timers(
        self, partition: int, until_ms: int | float, limit: int
    ) -> list[tuple[bytes, float]]:
        """The earliest timers due at or before ``until_ms``.

        Args:
            partition: The partition.
            until_ms: Upper bound of the due time, epoch milliseconds, inclusive.
            limit: Most timers to return.

        Returns:
            ``(member, due_ms)`` pairs, earliest first.
        """
        if limit <= 0:
            return []
        key = self.keys(partition).timers

        async def read() -> list[tuple[bytes, float]]:
            raw = await self._redis.zrangebyscore(
                key, "-inf", until_ms, start=0, num=limit, withscores=True
            )
            pairs = cast(list[tuple[bytes, float]], raw)
            return [(_bytes(m), float(s)) for m, s in pairs]

        return await self._retrying("due_timers", read)

    async def timers_between(
        self, partition: int, min_ms: int, max_ms: int, limit: int
    ) -> list[tuple[bytes, float]]:
        """The earliest timers due in ``[min_ms, max_ms]``, at most ``limit`` (one round trip).

        Returns:
            ``(member, due_ms)`` pairs in the sorted set's order (due, then member bytes).
        """
        if limit <= 0:
            return []
        key = self.keys(partition).timers

        async def read() -> list[tuple[bytes, float]]:
            raw = await self._redis.zrangebyscore(
                key, min_ms, max_ms, start=0, num=limit, withscores=True
            )
            pairs = cast(list[tuple[bytes, float]], raw)
            return [(_bytes(m), float(s)) for m, s in pairs]

        return await self._retrying("timers_between", read)

    async def timers_pending(self, partition: int, members: Sequence[bytes]) -> list[bool]:
        """Whether each timer is still in the partition's sorted set (one ZMSCORE)."""
        if not members:
            return []
        key = self.keys(partition).timers

        async def read() -> list[bool]:
            scores = await self._redis.zmscore(key, cast(list[str], list(members)))
            return [s is not None for s in scores]

        return await self._retrying("timers_pending", read)

    async def scan_prefix(
        self, partition: int, kind: KeyKind | str, *, count: int = 1000
    ) -> list[str]:
        """Every key of one kind in a partition, e.g. all ``inv:`` keys for recovery.

        Uses ``SCAN ... MATCH <escaped prefix>*``, so it walks the whole keyspace
        of the database in steps of ``count`` (one round trip each); each step
        is retried on its own, as a SCAN cursor is valid across connections.
        Use :meth:`PartitionKeys.invocation_id_of` / :meth:`PartitionKeys.object_of`
        to get the ids back.

        Args:
            partition: The partition.
            kind: Which keys, e.g. ``KeyKind.INV``.
            count: SCAN's COUNT hint.

        Returns:
            The keys, sorted, without duplicates.
        """
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self.keys(partition).kind_prefix(kind)) + "*"

        async def step(cursor: int) -> tuple[int, list[bytes | str]]:
            return await self._retrying(
                "scan_prefix", lambda: self._redis.scan(cursor, match=pattern, count=count)
            )

        found: set[bytes] = set()
        cursor, batch = await step(0)
        found.update(_bytes(k) for k in batch)
        while cursor != 0:
            cursor, batch = await step(cursor)
            found.update(_bytes(k) for k in batch)
        return sorted(k.decode("ascii") for k in found)

    # ----------------------------------------------------------------------- internals

    async def _pipelined(
        self, what: str, command: str, keys: Sequence[str], *args: Any
    ) -> list[Any]:
        if not keys:
            return []

        async def run() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.execute_command(command, key, *args)
                return await pipe.execute()

        return await self._retrying(what, run)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call()``, retrying transient connection failures; bounded by the policy."""
        try:  # The hot path: one plain call, no retry machinery unless it fails.
            return await call()
        except (RedisConnectionError, RedisTimeoutError) as e:
            if not _is_transient(e):
                raise StoreError(f"{what}: Redis at {self._where} refused access: {e}") from e
            log.warning("%s: Redis at %s failed (%s); retrying", what, self._where, e)
        policy = self._retry
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_s),
            wait=wait_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)
            + wait_random(0, policy.initial_backoff_s),
            before_sleep=lambda state: _log_retry(what, self._where, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await call()
        except (RedisConnectionError, RedisTimeoutError) as e:
            if not _is_transient(e):
                raise StoreError(f"{what}: Redis at {self._where} refused access: {e}") from e
            state = retrying.statistics
            raise StoreUnavailableError(
                f"{what}: Redis at {self._where} unreachable, gave up after "
                f"{state.get('attempt_number', '?')} attempts in "
                f"{state.get('delay_since_first_attempt', 0.0):.1f}s: {type(e).__name__}: {e}"
            ) from e
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises


def _log_retry(what: str, where: str, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    sleep = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "%s: Redis at %s failed (attempt %d: %s); retrying in %.2fs",
        what,
        where,
        state.attempt_number,
        exc,
        sleep,
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes from Redis, got {type(value).__name__}")
    return value


def _opt_bytes(value: object) -> bytes | None:
    return None if value is None else _bytes(value)
